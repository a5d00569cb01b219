"""The custom-action admin CLI end to end: main(argv) in-process against the sandbox and a fake."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest

from b2_iconik import custom_actions as ca
from tests.custom_actions.backends import Backend
from tests.custom_actions.helpers import (
    ENDPOINT,
    OTHER_ENDPOINT,
    SECRET,
    create,
    ours,
    run,
)


def test_create_twice_gives_the_same_eight_actions(iconik: Backend, capsys: Any) -> None:
    status, out, err = run(capsys, *create(iconik))
    assert status == 0, err
    assert "8 created" in out
    assert "b2-storage: B2 masters (B2" in out
    first = {a["id"]: a for a in ours(iconik)}
    assert len(first) == 8
    assert {(a["context"], ca.operation_of(a["url"])) for a in first.values()} == {
        (c, op) for c in ca.CONTEXTS for op in ca.OPERATIONS
    }
    for action in first.values():
        assert action["headers"] == {"x-bz-secret": SECRET}
        assert action["app_id"] == iconik.app_id
        assert action["type"] == "POST"
        assert f"b2_storage_id={iconik.b2}" in action["url"]
        assert f"ll_storage_id={iconik.ll}" in action["url"]
        assert action["title"] in {
            "Add original files to LucidLink",
            "Remove original files from LucidLink",
        }

    status, out, _ = run(capsys, *create(iconik, "--formats", "ORIGINAL,PPRO_PROXY"))
    assert status == 0
    assert "8 updated" in out
    second = {a["id"]: a for a in ours(iconik)}
    assert second.keys() == first.keys()
    assert {a["title"] for a in second.values()} == {
        "Add original and Premiere Pro proxy files to LucidLink",
        "Remove original and Premiere Pro proxy files from LucidLink",
    }
    assert all("formats=ORIGINAL,PPRO_PROXY" in a["url"] for a in second.values())
    assert len(iconik.actions) == 8

    writes = iconik.writes()
    status, out, _ = run(capsys, *create(iconik, "--formats", "ORIGINAL,PPRO_PROXY"))
    assert status == 0 and "8 unchanged" in out
    assert iconik.writes() == writes


def test_create_updates_actions_made_by_the_original_tool(iconik: Backend, capsys: Any) -> None:
    for context in ("ASSET", "COLLECTION", "BULK"):
        iconik.add(context, f"{ENDPOINT}/add", "Add to LucidLink")
        iconik.add(context, f"{ENDPOINT}/remove", "Remove from LucidLink")
    iconik.add("ASSET", f"{ENDPOINT}/add", "Add to LucidLink")  # the old tool, run twice
    status, out, _ = run(capsys, *create(iconik))
    assert status == 0
    assert "2 created, 6 updated, 1 deleted" in out
    assert len(ours(iconik)) == 8
    assert len(iconik.actions) == 8


def test_create_and_delete_never_touch_other_actions(iconik: Backend, capsys: Any) -> None:
    unrelated = iconik.add("ASSET", "https://example.com/hook", "Send to review")
    foreign = [
        iconik.add(context, f"{OTHER_ENDPOINT}/{op}", "Other deployment")
        for context in ca.CONTEXTS
        for op in ca.OPERATIONS
    ]
    before = {k: v for k, v in iconik.snapshot().items() if k in {unrelated, *foreign}}
    assert run(capsys, *create(iconik))[0] == 0
    assert len(iconik.actions) == 1 + 8 + 8
    assert {k: v for k, v in iconik.snapshot().items() if k in before} == before

    status, out, _ = run(capsys, "delete", ENDPOINT)
    assert status == 0
    assert "8 deleted" in out
    assert iconik.snapshot() == before


def test_delete_dry_run_and_nothing_to_delete(iconik: Backend, capsys: Any) -> None:
    assert run(capsys, *create(iconik))[0] == 0
    before, writes = iconik.snapshot(), iconik.writes()
    status, out, _ = run(capsys, "delete", ENDPOINT + "/", "--dry-run")
    assert status == 0
    assert out.count("would delete") == 8 and "nothing was changed" in out

    status, out, _ = run(capsys, "delete", OTHER_ENDPOINT)
    assert status == 0 and "no plugin actions" in out
    assert iconik.snapshot() == before
    assert iconik.writes() == writes


def test_create_dry_run_changes_nothing_and_masks_the_secret(iconik: Backend, capsys: Any) -> None:
    argv = create(iconik, "--formats", "ORIGINAL,EDIT_PROXY", "--dry-run")
    status, out, _ = run(capsys, *argv)
    assert status == 0
    assert out.count("would create") == 8
    assert "x-bz-secret: ****" in out
    assert "Add original and edit proxy files to LucidLink" in out
    assert "nothing was changed" in out
    assert iconik.actions == {}
    assert iconik.writes() == 0


def test_list_shows_status_and_last_error(iconik: Backend, capsys: Any) -> None:
    assert run(capsys, *create(iconik))[0] == 0
    failing = next(a for a in ours(iconik) if a["context"] == "BULK" and "/remove" in a["url"])
    iconik.fail(failing["id"], "Connection timed out")
    iconik.add("ASSET", "https://example.com/hook", "Send to review")
    iconik.add("ASSET", f"{OTHER_ENDPOINT}/add", "Other deployment")

    status, out, _ = run(capsys, "list", ENDPOINT)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CONTEXT", "STATUS", "TITLE", "URL", "LAST", "ERROR"]
    assert sum("HEALTHY" in line for line in lines) == 7
    bad = [line for line in lines if "FAILING" in line]
    assert len(bad) == 1
    assert "BULK" in bad[0] and "Connection timed out" in bad[0] and "/remove" in bad[0]
    assert "Send to review" not in out and "Other deployment" not in out
    assert "8 action(s), 1 failing" in out

    status, out, _ = run(capsys, "list")
    assert status == 0
    assert "Other deployment" in out and "Send to review" not in out
    assert "9 action(s), 1 failing" in out


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("unknown", "iconik has no such storage"),
        ("same", "same storage"),
        ("not-a-uuid", "not a storage id"),
        ("bad-format", "invalid format name"),
    ],
)
def test_bad_arguments_change_nothing(
    iconik: Backend, capsys: Any, which: str, message: str
) -> None:
    iconik.add("ASSET", f"{ENDPOINT}/add", "Add to LucidLink")
    before = iconik.snapshot()
    args = {
        "unknown": ("--b2-storage", iconik.b2, "--ll-storage", str(uuid.uuid4())),
        "same": ("--b2-storage", iconik.b2, "--ll-storage", iconik.b2),
        "not-a-uuid": ("--b2-storage", "not-a-uuid", "--ll-storage", iconik.ll),
        "bad-format": ("--b2-storage", iconik.b2, "--formats", "ORIGINAL,BAD NAME"),
    }[which]
    status, _, err = run(capsys, "create", ENDPOINT, *args)
    assert status == 2
    assert message in err
    assert err.startswith("b2-iconik-actions: error: ") and err.count("\n") == 1
    assert iconik.writes() == 0
    assert iconik.snapshot() == before


@pytest.mark.parametrize("variable", ["ICONIK_TOKEN", "ICONIK_ID", "BZ_SHARED_SECRET"])
def test_missing_variable_is_named(
    iconik: Backend, env: pytest.MonkeyPatch, capsys: Any, variable: str
) -> None:
    env.delenv(variable)
    status, _, err = run(capsys, *create(iconik))
    assert status == 2
    assert err.count("\n") == 1 and variable in err
    assert iconik.writes() == 0


def test_refused_token_is_explained(iconik: Backend, env: pytest.MonkeyPatch, capsys: Any) -> None:
    env.setenv("ICONIK_TOKEN", "not-the-right-token")
    for argv in (create(iconik), ("list",), ("delete", ENDPOINT)):
        status, _, err = run(capsys, *argv)
        assert status == 1
        assert "refused the token (401)" in err and err.count("\n") == 1
    assert iconik.actions == {}


def test_unreachable_iconik_is_one_line_naming_the_url(
    env: pytest.MonkeyPatch, capsys: Any
) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env.setenv("ICONIK_URL", url)
    b2, ll = str(uuid.uuid4()), str(uuid.uuid4())
    for argv in (
        ("create", ENDPOINT, "--b2-storage", b2, "--ll-storage", ll),
        ("list",),
        ("delete", ENDPOINT),
    ):
        status, _, err = run(capsys, *argv)
        assert status == 1
        assert url in err and "could not be reached" in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_storage_defaults_and_legacy_positionals(
    iconik: Backend, env: pytest.MonkeyPatch, capsys: Any
) -> None:
    env.setenv("B2_STORAGE_ID", iconik.b2)
    env.setenv("LL_STORAGE_ID", iconik.ll)
    env.setenv("FORMAT_NAMES", "PPRO_PROXY")
    status, _, err = run(capsys, "create", ENDPOINT)
    assert status == 0, err
    assert {a["url"] for a in ours(iconik)} == {
        f"{ENDPOINT}/{op}?b2_storage_id={iconik.b2}&ll_storage_id={iconik.ll}&formats=PPRO_PROXY"
        for op in ca.OPERATIONS
    }

    # Backblaze's original form: ENDPOINT B2_STORAGE_ID LL_STORAGE_ID [FORMATS]
    status, _, err = run(capsys, "create", ENDPOINT, iconik.b2, iconik.other, "ORIGINAL")
    assert status == 0, err
    assert all(f"ll_storage_id={iconik.other}" in a["url"] for a in ours(iconik))
    assert all("formats=ORIGINAL" in a["url"] for a in ours(iconik))
    assert len(ours(iconik)) == 8


def test_create_without_storages_warns_and_leaves_them_to_the_function(
    iconik: Backend, capsys: Any
) -> None:
    status, _, err = run(capsys, "create", ENDPOINT)
    assert status == 0
    assert "B2_STORAGE_ID / LL_STORAGE_ID must be set" in err
    assert {a["url"] for a in ours(iconik)} == {f"{ENDPOINT}/add", f"{ENDPOINT}/remove"}


def test_usage_errors_exit_2(env: pytest.MonkeyPatch, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        ca.main([])
    assert exit_info.value.code == 2
    capsys.readouterr()
    status, _, err = run(capsys, "create", "not-a-url")
    assert status == 2 and "ENDPOINT" in err
    status, _, err = run(
        capsys, "create", ENDPOINT, str(uuid.uuid4()), "--b2-storage", str(uuid.uuid4())
    )
    assert status == 2 and "given twice" in err
