"""Remove's per-chunk logic with a fake iconik: waiting, copies, final rounds, dry runs, errors."""

from __future__ import annotations

from typing import Any

import pytest

from b2_iconik import remove
from b2_iconik.errors import IconikHTTPError, IconikUnavailable
from b2_iconik.payload import ActionOptions
from b2_iconik.steps import PROCESS, Step

B2 = "b2000000-0000-4000-8000-000000000000"
LL = "11000000-0000-4000-8000-000000000000"


class FakeIconik:
    """Assets with an ORIGINAL on LucidLink; B2 copies as each test sets them."""

    def __init__(self) -> None:
        self.file_sets: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, list[dict[str, Any]]] = {}
        self.deleted: list[tuple[str, str]] = []
        self.copies: list[tuple[str, tuple[str, ...], str]] = []
        self.jobs: list[dict[str, Any]] = []
        self.broken: dict[str, Exception] = {}

    def add(self, asset: str, b2: str | None = "same") -> None:
        sets = [{"id": f"{asset}-ll", "storage_id": LL, "format_id": "f", "status": "ACTIVE"}]
        files = [{"file_set_id": f"{asset}-ll", "size": 10, "checksum": "c", "status": "CLOSED"}]
        if b2:
            sets.append({"id": f"{asset}-b2", "storage_id": B2, "format_id": "f",
                         "status": "ACTIVE"})
            files.append({"file_set_id": f"{asset}-b2", "size": 10 if b2 == "same" else 11,
                          "checksum": None, "status": "OPEN" if b2 == "open" else "CLOSED"})
        self.file_sets[asset], self.files[asset] = sets, files

    def asset_file_sets(self, asset: str) -> list[dict[str, Any]]:
        if asset in self.broken:
            raise self.broken[asset]
        return [s for s in self.file_sets[asset] if (asset, s["id"]) not in self.deleted]

    def asset_formats(self, asset: str) -> list[dict[str, Any]]:
        return [{"id": "f", "name": "ORIGINAL", "status": "ACTIVE"}]

    def asset_files(self, asset: str) -> list[dict[str, Any]]:
        return self.files[asset]

    def delete_file_set(self, asset: str, file_set: str) -> None:
        self.deleted.append((asset, file_set))

    def bulk_copy(self, dest: str, ids: list[str], fmt: str, source_id: str | None = None) -> str:
        self.copies.append((dest, tuple(ids), fmt))
        return "copy-job"

    def update_job(self, job_id: str, **fields: Any) -> None:
        self.jobs.append(fields)


def step(assets: list[str], dry_run: bool = False, deadline: float = 100.0) -> Step:
    options = ActionOptions(B2, LL, ("ORIGINAL",), dry_run)
    return Step("remove", "job", options, "token", stage=PROCESS, remaining=tuple(assets),
                total=len(assets), deadline=deadline)


def run_to_end(fake: FakeIconik, first: Step, now: float = 0.0) -> dict[str, Any]:
    current: Step | None = first
    rounds = 0
    while current is not None:
        now = max(now, current.not_before)
        current = remove.run(fake, current, now, recheck_seconds=1.0)  # type: ignore[arg-type]
        rounds += 1
        assert rounds < 100
    return fake.jobs[-1]


def test_verified_assets_are_deleted_and_the_job_finishes():
    fake = FakeIconik()
    fake.add("a")
    job = run_to_end(fake, step(["a"]))
    assert fake.deleted == [("a", "a-ll")]
    assert job["status"] == "FINISHED"


def test_missing_b2_copy_is_requested_then_waited_for_until_the_deadline():
    fake = FakeIconik()
    fake.add("a", b2=None)
    job = run_to_end(fake, step(["a"], deadline=30.0))
    assert fake.deleted == []
    assert job["status"] == "FAILED" and "a: B2 copy not verified in time" in job["message"]
    assert fake.copies[0] == (B2, ("a",), "ORIGINAL")
    assert len(fake.copies) == remove.MAX_COPY_REQUESTS  # asked again, but not forever


def test_copy_that_arrives_while_waiting_is_verified_and_removed():
    fake = FakeIconik()
    fake.add("a", b2="open")
    waiting = remove.run(fake, step(["a"]), 0.0, 1.0)  # type: ignore[arg-type]
    assert waiting is not None and waiting.remaining == ("a",) and waiting.not_before == 1.0
    fake.add("a", b2="same")
    assert remove.run(fake, waiting, 1.0, 1.0) is None  # type: ignore[arg-type]
    assert fake.deleted == [("a", "a-ll")]
    assert fake.jobs[-1]["status"] == "FINISHED"


def test_mismatch_fails_at_once_without_a_copy_request():
    fake = FakeIconik()
    fake.add("a", b2="bigger")
    job = run_to_end(fake, step(["a"]))
    assert (fake.deleted, fake.copies) == ([], [])
    assert job["status"] == "FAILED" and "11 bytes" in job["message"]


def test_recheck_pauses_grow_and_stop_at_the_deadline():
    fake = FakeIconik()
    fake.add("a", b2="open")
    current, pauses = step(["a"], deadline=20.0), []
    now = 0.0
    while current is not None:
        now = max(now, current.not_before)
        current = remove.run(fake, current, now, 1.0)  # type: ignore[arg-type]
        if current is not None:
            pauses.append(current.not_before - now)
    assert pauses == [1.0, 2.0, 4.0, 8.0, 5.0]  # doubling, cut to end exactly at the deadline
    assert fake.jobs[-1]["status"] == "FAILED"


@pytest.mark.parametrize(
    "error",
    [IconikUnavailable("timeout"), IconikHTTPError(503, ["down"], "GET", "/x")],
)
def test_passing_iconik_error_makes_an_asset_wait_not_fail(error):
    fake = FakeIconik()
    fake.add("a")
    fake.broken["a"] = error
    following = remove.run(fake, step(["a"]), 0.0, 1.0)  # type: ignore[arg-type]
    assert following is not None and following.remaining == ("a",)
    del fake.broken["a"]
    assert remove.run(fake, following, 1.0, 1.0) is None  # type: ignore[arg-type]
    assert fake.deleted == [("a", "a-ll")]


def test_lasting_iconik_error_fails_only_that_asset():
    fake = FakeIconik()
    fake.add("a")
    fake.add("b")
    fake.broken["a"] = IconikHTTPError(403, ["Permission denied"], "GET", "/x")
    job = run_to_end(fake, step(["a", "b"]))
    assert fake.deleted == [("b", "b-ll")]
    assert job["status"] == "FAILED" and "Permission denied" in job["message"]


def test_unexpected_error_fails_only_that_asset():
    fake = FakeIconik()
    fake.add("a")
    fake.add("b")
    fake.broken["a"] = KeyError("id")
    job = run_to_end(fake, step(["a", "b"]))
    assert fake.deleted == [("b", "b-ll")]
    assert "a: internal error" in job["message"]


def test_dry_run_deletes_and_copies_nothing_and_finishes():
    fake = FakeIconik()
    fake.add("a")
    fake.add("b", b2=None)
    job = run_to_end(fake, step(["a", "b"], dry_run=True))
    assert (fake.deleted, fake.copies) == ([], [])
    assert job["status"] == "FINISHED"
    assert "b: would keep" in job["message"] and "would request a copy to B2" in job["message"]


def test_large_selection_is_handled_in_chunks_with_progress():
    fake = FakeIconik()
    assets = [f"a{i}" for i in range(remove.CHUNK * 2 + 5)]
    for asset in assets:
        fake.add(asset)
    first = remove.run(fake, step(assets), 0.0, 1.0)  # type: ignore[arg-type]
    assert first is not None and len(first.remaining) == remove.CHUNK + 5
    assert fake.jobs[-1]["progress_processed"] == remove.CHUNK
    job = run_to_end(fake, first)
    assert job["status"] == "FINISHED" and len(fake.deleted) == len(assets)


def test_nothing_on_lucidlink_is_done_after_one_read():
    fake = FakeIconik()
    fake.file_sets["a"], fake.files["a"] = [], []
    job = run_to_end(fake, step(["a"]))
    assert job["status"] == "FINISHED" and fake.deleted == []
