"""``b2-iconik-actions policy`` list, estimate, activate, run and delete, end to end."""

from __future__ import annotations

from typing import Any

from b2_iconik.custom_actions import policies
from tests.custom_actions.helpers import (
    OTHER_ENDPOINT,
    run,
)
from tests.custom_actions.policies.backends import PolicyBackend
from tests.custom_actions.policies.helpers import (
    APPROVED,
    ours,
    policy,
    policy_actions,
    the_one,
)


def _others(backend: PolicyBackend) -> tuple[str, str, str]:
    """Someone's own automation, and another deployment's policy with its custom action."""
    action = backend.add("ASSET", f"{OTHER_ENDPOINT}/policies/{APPROVED}/remove")
    mine = backend.add_automation("Archive after approval", "made by hand", action)
    theirs = backend.add_automation(
        "B2 LucidLink: remove from LucidLink when approved",
        policies.description(OTHER_ENDPOINT, APPROVED),
        action,
    )
    return mine, theirs, action


def test_list_shows_ours_with_health_and_estimate(registered: PolicyBackend, capsys: Any) -> None:
    endpoint = registered.endpoint
    _others(registered)
    assert policy(capsys, "create", endpoint, APPROVED, "--activate")[0] == 0
    assert policy(capsys, "create", endpoint, "remove-when-unmodified", "--days", "30")[0] == 0
    (failing,) = policy_actions(registered, "remove-when-unmodified-30d")
    registered.fail(failing["id"], "Connection timed out")

    status, out, _ = policy(capsys, "list", endpoint, "--estimate")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["SLUG", "STATUS", "NAME", "TRIGGER", "ACTION", "ESTIMATE"]
    approved = next(line for line in lines if line.startswith(APPROVED))
    assert "ACTIVE" in approved and "review status APPROVED" in approved
    assert "HEALTHY" in approved and approved.endswith(f"  {registered.estimate(APPROVED)}")
    unmodified = next(line for line in lines if line.startswith("remove-when-unmodified-30d"))
    assert "INACTIVE" in unmodified and "not modified for 30 days" in unmodified
    assert "FAILING: Connection timed out" in unmodified
    assert "Archive after approval" not in out and OTHER_ENDPOINT not in out
    assert "2 policy(ies), 1 active" in out

    status, out, _ = policy(capsys, "list")
    assert status == 0 and OTHER_ENDPOINT in out and "3 policy(ies)" in out


def test_estimate_activate_deactivate_and_run_by_slug(
    registered: PolicyBackend, capsys: Any
) -> None:
    endpoint = registered.endpoint
    _others(registered)
    assert policy(capsys, "create", endpoint, APPROVED)[0] == 0
    automation_id = the_one(registered)["id"]

    status, out, _ = policy(capsys, "estimate", endpoint, APPROVED)
    expected = f"{APPROVED}: {registered.estimate(APPROVED)} asset(s) match it now"
    assert status == 0 and out.strip() == expected

    assert policy(capsys, "activate", endpoint, APPROVED)[0] == 0
    assert the_one(registered)["status"] == "ACTIVE"
    status, out, _ = policy(capsys, "activate", endpoint, APPROVED)
    assert status == 0 and "already ACTIVE" in out
    assert policy(capsys, "deactivate", endpoint, APPROVED)[0] == 0
    assert the_one(registered)["status"] == "INACTIVE"

    writes = registered.writes()
    status, out, _ = policy(capsys, "run", endpoint, APPROVED, "--dry-run")
    assert status == 0 and "dry run: nothing was changed" in out and "would send POST" in out
    assert registered.runs() == [] and registered.writes() == writes
    assert policy(capsys, "run", endpoint, APPROVED)[0] == 0
    assert registered.runs() == [automation_id]


def test_delete_removes_only_ours(registered: PolicyBackend, capsys: Any) -> None:
    endpoint = registered.endpoint
    mine, theirs, their_action = _others(registered)
    assert policy(capsys, "create", endpoint, APPROVED)[0] == 0
    assert policy(capsys, "create", endpoint, "remove-when-unmodified", "--days", "30")[0] == 0
    ordinary = {k for k, a in registered.actions.items() if "/policies/" not in a["url"]}

    writes = registered.writes()
    status, out, _ = policy(capsys, "delete", endpoint, APPROVED, "--dry-run")
    assert status == 0 and out.count("would delete") == 2
    assert registered.writes() == writes

    status, out, _ = policy(capsys, "delete", endpoint, APPROVED)
    assert status == 0 and out.count("deleted") == 2
    assert [policies.owner_of(a) for a in ours(registered)] == [
        (endpoint, "remove-when-unmodified-30d")
    ]
    assert policy_actions(registered, APPROVED) == []

    status, _, err = run(capsys, "delete", endpoint, "--dry-run")  # the ordinary actions
    assert status == 0
    assert f"note: the policies of {endpoint} are kept (remove-when-unmodified-30d)" in err

    status, out, _ = policy(capsys, "delete", endpoint, "--all")
    assert status == 0
    assert ours(registered) == [] and policy_actions(registered) == []
    assert set(registered.automations()) == {mine, theirs}
    assert ordinary | {their_action} == set(registered.actions)


def test_a_policy_missing_half_is_shown_repaired_and_deleted(
    registered: PolicyBackend, capsys: Any
) -> None:
    """An action deleted by hand is made again (and the automation pointed at it); an action
    whose automation was deleted by hand is listed, and ``delete`` removes it."""
    endpoint = registered.endpoint
    assert policy(capsys, "create", endpoint, APPROVED)[0] == 0
    (action,) = policy_actions(registered)
    registered.actions.pop(action["id"])
    status, out, _ = policy(capsys, "list", endpoint)
    assert status == 0 and "MISSING" in out

    assert policy(capsys, "create", endpoint, APPROVED)[0] == 0
    (again,) = policy_actions(registered)
    assert again["id"] != action["id"]
    assert policies.action_id_of(the_one(registered)) == again["id"]

    registered.automations().pop(the_one(registered)["id"])
    status, out, _ = policy(capsys, "list", endpoint)
    assert status == 0
    assert f"custom action of policy {APPROVED} has no automation: {again['id']}" in out
    status, out, _ = policy(capsys, "delete", endpoint, APPROVED)
    assert status == 0 and "deleted custom action" in out
    assert policy_actions(registered) == []
