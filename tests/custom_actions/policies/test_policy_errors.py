"""``b2-iconik-actions policy`` errors: missing actions or roles, bad days, usage errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.custom_actions.helpers import OTHER_ENDPOINT
from tests.custom_actions.policies.backends import PolicyBackend
from tests.custom_actions.policies.helpers import (
    APPROVED,
    policy,
)


def test_policies_need_the_ordinary_actions(iconik: PolicyBackend, capsys: Any) -> None:
    iconik.add("ASSET", f"{OTHER_ENDPOINT}/remove")
    status, _, err = policy(capsys, "create", iconik.endpoint, APPROVED)
    assert status == 2
    assert f"run b2-iconik-actions create {iconik.endpoint} first" in err
    assert err.count("\n") == 1
    assert iconik.writes() == 0


@pytest.mark.parametrize(
    ("role", "argv"),
    [
        ("can_read_automations", ("list",)),
        ("can_write_automations", ("create", APPROVED)),
        ("can_run_automations", ("estimate", APPROVED)),
        ("can_delete_automations", ("delete", APPROVED)),
    ],
)
def test_a_missing_role_is_named(
    registered: PolicyBackend, capsys: Any, role: str, argv: tuple[str, ...]
) -> None:
    if argv[0] != "create":
        assert policy(capsys, "create", registered.endpoint, APPROVED)[0] == 0
    registered.deny(role)
    command, *rest = argv
    status, _, err = policy(capsys, command, registered.endpoint, *rest)
    assert status == 1
    assert f"(403): the application token's user needs the role {role}" in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("days", ["0", "-3", "1.5", "thirty", "07"])
def test_bad_days_are_refused_before_iconik_is_called(
    registered: PolicyBackend, capsys: Any, days: str
) -> None:
    writes = registered.writes()
    argv = ("create", registered.endpoint, "remove-when-unmodified", "--days", days)
    status, _, err = policy(capsys, *argv)
    assert status == 2
    assert "--days must be a whole number of days, 1 or more" in err and err.count("\n") == 1
    assert registered.writes() == writes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("create", "remove-when-unmodified"), "needs --days"),
        (("create", APPROVED, "--days", "3"), "--days is for remove-when-unmodified"),
        (("create", "add-when-in-collection", "--collection", "x"), "a UUID"),
        (("estimate", "no-such-policy"), "no policy no-such-policy for"),
        (("activate", "Bad_Slug"), "is not a policy slug"),
        (("delete", "no-such-policy"), "no policy no-such-policy for"),
        (("delete",), "give either SLUG or --all"),
    ],
)
def test_usage_errors_are_one_sentence(
    registered: PolicyBackend, capsys: Any, argv: tuple[str, ...], message: str
) -> None:
    writes = registered.writes()
    command, *rest = argv
    status, _, err = policy(capsys, command, registered.endpoint, *rest)
    assert status == 2
    assert message in err and err.count("\n") == 1
    assert registered.writes() == writes
