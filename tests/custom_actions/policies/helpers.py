"""The policy tests' shared pieces: the approved policy's slug, policy(), and our automations."""

from __future__ import annotations

from typing import Any

from b2_iconik.custom_actions import policies
from tests.custom_actions.helpers import run
from tests.custom_actions.policies.backends import PolicyBackend

APPROVED = "remove-when-approved"


def policy(capsys: Any, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "policy", *argv)


def policy_actions(backend: PolicyBackend, slug: str | None = None) -> list[dict[str, Any]]:
    return policies.policy_actions(backend.actions.values(), backend.endpoint, slug)


def ours(backend: PolicyBackend) -> list[dict[str, Any]]:
    return policies.our_automations(backend.automations().values(), backend.endpoint)


def the_one(backend: PolicyBackend) -> dict[str, Any]:
    (automation,) = ours(backend)
    return automation
