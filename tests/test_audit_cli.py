"""``b2-iconik-actions audit`` end to end against the sandbox: the table, --json against its
documented schema, --csv, the progress bar, --copy-missing, the errors (one sentence, no
traceback) and that the audit alone never writes."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from b2_iconik.custom_actions import audit as audit_cli
from b2_iconik.custom_actions import audit_acts, cli
from iconik_sandbox import Sandbox
from tests import leaks

SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "audit-schema.json").read_text())
UNKNOWN = "7f7f7f7f-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with Sandbox(per_page_cap=4, copy_seconds=0.05) as sb:
        leaks.secret(sb.token)
        yield sb


@pytest.fixture
def sandbox(module_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    module_sandbox.reset()
    for name in ("B2_STORAGE_ID", "LL_STORAGE_ID", "FORMAT_NAMES", "BZ_SHARED_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ICONIK_URL", module_sandbox.url)
    monkeypatch.setenv("ICONIK_ID", module_sandbox.app_id)
    monkeypatch.setenv("ICONIK_TOKEN", module_sandbox.token)
    monkeypatch.setattr(audit_cli, "AUDIT_RETRIES", 3)
    monkeypatch.setattr(audit_cli, "AUDIT_BACKOFF", 0.01)
    monkeypatch.chdir(Path(__file__).parent)  # no stray .env
    yield module_sandbox


class Catalogue:
    def __init__(self, sandbox: Sandbox) -> None:
        s = sandbox.state
        self.state = s
        self.b2 = s.add_storage("B2 masters", "B2")["id"]
        self.ll = s.add_storage("LucidLink", "FILE")["id"]
        self.safe, self.only, self.differs = [], [], []
        for n in range(3):
            a = s.add_asset(f"safe {n}")["id"]
            s.add_file_set(a, "ORIGINAL", self.b2, files=[{"size": 1000, "checksum": "x"}])
            s.add_file_set(a, "ORIGINAL", self.ll, files=[{"size": 1000, "checksum": "x"}])
            self.safe.append(a)
        for n in range(2):
            a = s.add_asset(f"only {n}")["id"]
            s.add_file_set(a, "ORIGINAL", self.ll, files=[{"size": 50}])
            s.add_file_set(a, "PPRO_PROXY", self.ll, files=[{"size": 5}])
            self.only.append(a)
        a = s.add_asset("differs")["id"]
        s.add_file_set(a, "ORIGINAL", self.b2, files=[{"size": 7}])
        s.add_file_set(a, "ORIGINAL", self.ll, files=[{"size": 8}])
        self.differs.append(a)
        for n in range(6):  # B2 only: read, not kept
            a = s.add_asset(f"b2 only {n}")["id"]
            s.add_file_set(a, "ORIGINAL", self.b2)

    def args(self, *more: str) -> list[str]:
        return ["audit", "--b2-storage", self.b2, "--ll-storage", self.ll, *more]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(argv)
    out, err = capsys.readouterr()
    leaks.record("audit stdout", out)
    leaks.record("audit stderr", err)
    assert "Traceback" not in out + err
    return status, out, err


def writes(sandbox: Sandbox) -> list[Any]:
    return [r for r in sandbox.requests.list() if r.method != "GET"]


def test_json_matches_its_schema_and_counts(sandbox: Sandbox, capsys) -> None:
    cat = Catalogue(sandbox)
    status, out, err = run(cat.args("--json"), capsys)
    assert (status, err) == (0, "")
    document = json.loads(out)
    jsonschema.validate(document, SCHEMA)
    assert {k: document["safe_to_free"][k] for k in ("assets", "file_sets", "bytes")} == {
        "assets": 3,
        "file_sets": 3,
        "bytes": 3000,
    }
    assert document["only_on_lucidlink"]["file_sets"] == 4
    assert document["only_on_lucidlink"]["assets"] == 2
    assert document["b2_copy_differs"]["file_sets"] == 1
    assert document["listed"]["b2_files"] == 10
    assert document["reasons"]["no copy on B2"] == 4
    assert writes(sandbox) == []  # the audit reads, and never writes


def test_the_table(sandbox: Sandbox, capsys) -> None:
    cat = Catalogue(sandbox)
    status, out, _ = run(cat.args(), capsys)
    assert status == 0
    assert "LucidLink storage: LucidLink (FILE," in out
    for label in ("safe to free", "B2 copy pending", "B2 copy differs", "only on LucidLink"):
        assert label in out
    [safe_row] = [line for line in out.splitlines() if line.startswith("safe to free")]
    assert safe_row.split()[3:6] == ["3", "3", "3,000"]
    assert "Oldest file sets:" in out and "no copy on B2" in out
    assert writes(sandbox) == []


def test_python_dash_m_runs_the_same_command(sandbox: Sandbox) -> None:
    import subprocess

    cat = Catalogue(sandbox)
    done = subprocess.run(
        [sys.executable, "-m", "b2_iconik.custom_actions", *cat.args("--json")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[1],
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["safe_to_free"]["file_sets"] == 3


def test_csv_one_row_per_lucidlink_file_set(sandbox: Sandbox, capsys, tmp_path: Path) -> None:
    cat = Catalogue(sandbox)
    path = tmp_path / "audit.csv"
    status, out, _ = run(cat.args("--csv", str(path), "--titles"), capsys)
    assert status == 0 and f"wrote {path}" in out
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 3 + 4 + 1
    assert set(rows[0]) == set(audit_acts.CSV_COLUMNS)
    by_class: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_class.setdefault(row["class"], []).append(row)
    assert sorted(r["title"] for r in by_class["safe_to_free"]) == ["safe 0", "safe 1", "safe 2"]
    assert {r["bytes"] for r in by_class["safe_to_free"]} == {"1000"}
    assert all(r["reason"] == "no copy on B2" for r in by_class["only_on_lucidlink"])
    assert all(r["date"] for r in rows)
    assert writes(sandbox) == []


def test_progress_bar_only_on_a_terminal(sandbox: Sandbox, capsys, monkeypatch) -> None:
    cat = Catalogue(sandbox)
    _, _, err = run(cat.args("--json"), capsys)
    assert err == ""

    class Tty:
        def __init__(self) -> None:
            self.text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert cli.main(cat.args("--json")) == 0
    assert "listing the B2 storage: [" in tty.text and "/10 files" in tty.text
    tty.text = ""
    assert cli.main(cat.args("--json", "--no-progress")) == 0
    assert tty.text == ""


def test_unknown_storage_is_one_sentence(sandbox: Sandbox, capsys) -> None:
    cat = Catalogue(sandbox)
    status, _, err = run(["audit", "--b2-storage", cat.b2, "--ll-storage", UNKNOWN], capsys)
    assert status == 2
    assert err.strip() == (
        f"b2-iconik-actions: error: --ll-storage {UNKNOWN}: iconik has no such storage"
    )
    status, _, err = run(["audit", "--b2-storage", cat.b2, "--ll-storage", "nope"], capsys)
    assert status == 2 and "not a storage id" in err
    status, _, err = run(["audit", "--b2-storage", cat.b2], capsys)
    assert status == 2 and "--ll-storage" in err


def test_token_without_the_role(sandbox: Sandbox, capsys, monkeypatch) -> None:
    cat = Catalogue(sandbox)
    sandbox.add_token(sandbox.app_id, "weak-token-123456", without_roles={"can_list_storage_files"})
    monkeypatch.setenv("ICONIK_TOKEN", "weak-token-123456")
    status, _, err = run(cat.args(), capsys)
    assert status == 1
    assert "(403)" in err and "can_list_storage_files" in err
    assert len(err.strip().splitlines()) == 1


def test_429_and_5xx_mid_listing_are_retried(sandbox: Sandbox, capsys) -> None:
    cat = Catalogue(sandbox)
    sandbox.faults.fail_next("GET", r"/storages/.*/files/", status=429, count=1, retry_after=0)
    sandbox.faults.fail_next("GET", r"/storages/.*/files/", status=502, count=2)
    status, out, _ = run(cat.args("--json"), capsys)
    assert status == 0
    assert json.loads(out)["safe_to_free"]["file_sets"] == 3


def test_a_listing_that_keeps_failing_says_how_far_it_got(sandbox: Sandbox, capsys) -> None:
    cat = Catalogue(sandbox)
    sandbox.faults.fail_next("GET", rf"/storages/{cat.b2}/files/", status=503, count=100)
    status, _, err = run(cat.args(), capsys)
    assert status == 1
    assert "iconik kept failing (503)" in err
    assert "the audit stopped while listing the B2 storage" in err
    assert "LucidLink: 8 of 8 files in 2 pages, B2: 0 files in 0 pages" in err


def test_copy_missing_asks_for_copies_and_never_overwrites(sandbox: Sandbox, capsys) -> None:
    cat = Catalogue(sandbox)
    status, out, _ = run(cat.args("--copy-missing", "--dry-run"), capsys)
    assert status == 0 and "would ask iconik for B2 copies of 4 file sets of 2 assets" in out
    assert writes(sandbox) == []
    status, out, _ = run(cat.args("--copy-missing", "--json"), capsys)
    assert status == 0
    document = json.loads(out)
    jsonschema.validate(document, SCHEMA)
    done = document["actions"]["copy_missing"]
    assert (done["assets"], done["file_sets"], done["requests"]) == (2, 4, 2)
    posts = writes(sandbox)
    assert {p.path for p in posts} == {f"/API/files/v1/storages/{cat.b2}/bulk/"}
    assert {p.body["format_name"] for p in posts} == {"ORIGINAL", "PPRO_PROXY"}
    for post in posts:
        assert sorted(post.body["object_ids"]) == sorted(cat.only)
        assert post.body["overwrite"] is False
        assert post.body["preferred_original_storage_id"] == cat.ll
    # once the copies land, the audit finds them safe to free: wait for the copies themselves
    # (not for the audit to say so, which a slow machine could stop before and pass unchecked)
    import time

    deadline = time.monotonic() + 60
    while sandbox.copies.pending():
        assert time.monotonic() < deadline, "the copies never landed"
        time.sleep(0.05)
    _, out, _ = run(cat.args("--json"), capsys)
    assert json.loads(out)["safe_to_free"]["file_sets"] == 7
    assert json.loads(out)["only_on_lucidlink"]["file_sets"] == 0


def test_free_safe_needs_a_registered_remove_action(sandbox: Sandbox, capsys) -> None:
    cat = Catalogue(sandbox)
    status, _, err = run(cat.args("--free-safe", "--dry-run"), capsys)
    assert status == 2 and "no Remove action is registered" in err
    assert writes(sandbox) == []


def test_dry_run_alone_is_a_usage_error(sandbox: Sandbox, capsys) -> None:
    cat = Catalogue(sandbox)
    status, _, err = run(cat.args("--dry-run"), capsys)
    assert status == 2 and "--dry-run goes with" in err
