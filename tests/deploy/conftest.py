"""Fixtures of the deploy tests: the iconik sandbox, and a fake gcloud first on PATH (cloud)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy import gcloud as gcloud_module
from tests.deploy.helpers import (
    FAKE,
    PROJECT,
    REGION,
    Cloud,
    world,
)


@pytest.fixture
def sandbox() -> Iterator[Any]:
    server = pytest.importorskip("iconik_sandbox.server")
    with server.Sandbox() as sb:
        yield sb


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> Cloud:
    """A fake gcloud first on PATH, an empty project, and a filled-in .env.yaml."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "gcloud"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    state, log = tmp_path / "world.json", tmp_path / "gcloud.log"
    state.write_text(json.dumps(world()))
    monkeypatch.setenv("FAKE_GCLOUD_STATE", str(state))
    monkeypatch.setenv("FAKE_GCLOUD_LOG", str(log))
    monkeypatch.setattr(gcloud_module, "PROPAGATION_PAUSE", 0)
    b2 = sandbox.state.add_storage("B2 masters", "B2")["id"]
    ll = sandbox.state.add_storage("LucidLink", "FILE")["id"]
    monkeypatch.setenv("ICONIK_TOKEN", sandbox.token)
    for name in ("BZ_SHARED_SECRET", "FORMAT_NAMES", "B2_STORAGE_ID", "LL_STORAGE_ID"):
        monkeypatch.delenv(name, raising=False)
    made = Cloud(state, log, tmp_path / ".env.yaml", sandbox)
    made.write_env(
        ICONIK_ID=sandbox.app_id,
        ICONIK_URL=sandbox.url,
        GOOGLE_CLOUD_PROJECT=PROJECT,
        DEPLOY_REGION=REGION,
        B2_STORAGE_ID=b2,
        LL_STORAGE_ID=ll,
    )
    return made
