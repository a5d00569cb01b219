"""Shared fixtures: every test starts from the same environment and logging set-up."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from b2_iconik import iconik


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Put os.environ back as it was: settings are read from it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and level back: setup_logging changes them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver's ``httpserver`` on 127.0.0.1 (its default, localhost, may be ::1)."""
    return ("127.0.0.1", 0)


@pytest.fixture(autouse=True)
def _fresh_rate_limiters() -> Iterator[None]:
    """Each test gets its own instance-wide limiters (so tests never wait on each other) and
    connection pool."""
    iconik._limiters.clear()
    iconik._pools.clear()
    yield
    iconik._limiters.clear()
    iconik._pools.clear()
