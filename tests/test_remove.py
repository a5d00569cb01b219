"""Remove's rounds with a fake iconik: waiting, copies, final rounds, dry runs, errors, and
copies someone else deletes meanwhile."""

from __future__ import annotations

from typing import Any

import pytest

from b2_iconik.base.errors import IconikHTTPError, IconikUnavailable
from b2_iconik.rules import remove
from b2_iconik.rules.payload import ActionOptions
from b2_iconik.rules.steps import CHUNK, Round, Step

B2 = "b2000000-0000-4000-8000-000000000000"
LL = "11000000-0000-4000-8000-000000000000"


class FakeIconik:
    """Assets with an ORIGINAL on LucidLink; B2 copies as each test sets them."""

    def __init__(self) -> None:
        self.file_sets: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, list[dict[str, Any]]] = {}
        self.deleted: list[tuple[str, str]] = []
        self.copies: list[tuple[str, tuple[str, ...], str]] = []
        self.broken: dict[str, Exception] = {}
        self.file_set_reads: dict[str, int] = {}
        self.vanishing: dict[str, str] = {}  # asset -> LL set deleted elsewhere after a read

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
        reads = self.file_set_reads[asset] = self.file_set_reads.get(asset, 0) + 1
        gone = self.vanishing.get(asset)
        listed = [s for s in self.file_sets[asset] if (asset, s["id"]) not in self.deleted
                  and not (gone == s["id"] and reads > 1)]
        if gone and reads == 1:  # another run deletes it (to the recycle bin) right after
            for f in self.files[asset]:
                if f["file_set_id"] == gone:
                    f["status"] = "DELETED"
        return listed

    def asset_formats(self, asset: str) -> list[dict[str, Any]]:
        return [{"id": "f", "name": "ORIGINAL", "status": "ACTIVE"}]

    def asset_files(self, asset: str) -> list[dict[str, Any]]:
        return self.files[asset]

    def delete_file_set(self, asset: str, file_set: str) -> None:
        self.deleted.append((asset, file_set))

    def bulk_copy(self, dest: str, ids: list[str], fmt: str, source_id: str | None = None) -> str:
        self.copies.append((dest, tuple(ids), fmt))
        return "copy-job"



def step(assets: list[str], dry_run: bool = False, deadline: float = 100.0) -> Step:
    options = ActionOptions(B2, LL, ("ORIGINAL",), dry_run)
    return Step("remove", "job", options, "token", kind=CHUNK, remaining=tuple(assets),
                total=len(assets), deadline=deadline)


def run(fake: FakeIconik, current: Step, now: float = 0.0) -> Round:
    return remove.run(fake, current, now, recheck_seconds=1.0)  # type: ignore[arg-type]


def run_to_end(fake: FakeIconik, first: Step, now: float = 0.0) -> Step:
    """Every round of the chunk; the chunk's state once it is over."""
    current: Step | None = first
    for _ in range(100):
        assert current is not None
        now = max(now, current.not_before)
        done = run(fake, current, now)
        if done.following is None:
            return done.state
        current = done.following
    raise AssertionError("the chunk never ended")


def reasons(state: Step) -> str:
    return "; ".join(f"{a}: {why}" for a, why in state.failures)


def test_verified_assets_are_deleted_and_the_job_finishes():
    fake = FakeIconik()
    fake.add("a")
    state = run_to_end(fake, step(["a"]))
    assert fake.deleted == [("a", "a-ll")]
    assert (state.done, state.failures) == (1, ())


def test_missing_b2_copy_is_requested_then_waited_for_until_the_deadline():
    fake = FakeIconik()
    fake.add("a", b2=None)
    state = run_to_end(fake, step(["a"], deadline=30.0))
    assert fake.deleted == []
    assert state.done == 0 and "a: B2 copy not verified in time" in reasons(state)
    assert fake.copies[0] == (B2, ("a",), "ORIGINAL")
    assert len(fake.copies) == remove.MAX_COPY_REQUESTS  # asked again, but not forever


def test_copy_that_arrives_while_waiting_is_verified_and_removed():
    fake = FakeIconik()
    fake.add("a", b2="open")
    waiting = run(fake, step(["a"])).following
    assert waiting is not None and waiting.remaining == ("a",) and waiting.not_before == 1.0
    assert waiting.seq == 1 and waiting.round == 1
    fake.add("a", b2="same")
    done = run(fake, waiting, 1.0)
    assert done.following is None and done.state.done == 1
    assert fake.deleted == [("a", "a-ll")]


def test_mismatch_fails_at_once_without_a_copy_request():
    fake = FakeIconik()
    fake.add("a", b2="bigger")
    state = run_to_end(fake, step(["a"]))
    assert (fake.deleted, fake.copies) == ([], [])
    assert state.done == 0 and "11 bytes" in reasons(state)


def test_recheck_pauses_grow_and_stop_at_the_deadline():
    fake = FakeIconik()
    fake.add("a", b2="open")
    current, pauses = step(["a"], deadline=20.0), []
    now = 0.0
    while current is not None:
        now = max(now, current.not_before)
        done = run(fake, current, now)
        current = done.following
        if current is not None:
            pauses.append(current.not_before - now)
    assert pauses == [1.0, 2.0, 4.0, 8.0, 5.0]  # doubling, cut to end exactly at the deadline
    assert done.state.failed_assets() == {"a"}


@pytest.mark.parametrize(
    "error",
    [IconikUnavailable("timeout"), IconikHTTPError(503, ["down"], "GET", "/x")],
)
def test_passing_iconik_error_makes_an_asset_wait_not_fail(error):
    fake = FakeIconik()
    fake.add("a")
    fake.broken["a"] = error
    following = run(fake, step(["a"])).following
    assert following is not None and following.remaining == ("a",)
    del fake.broken["a"]
    assert run(fake, following, 1.0).following is None
    assert fake.deleted == [("a", "a-ll")]


def test_lasting_iconik_error_fails_only_that_asset():
    fake = FakeIconik()
    fake.add("a")
    fake.add("b")
    fake.broken["a"] = IconikHTTPError(403, ["Permission denied"], "GET", "/x")
    state = run_to_end(fake, step(["a", "b"]))
    assert fake.deleted == [("b", "b-ll")]
    assert state.done == 1 and "Permission denied" in reasons(state)


def test_unexpected_error_fails_only_that_asset():
    fake = FakeIconik()
    fake.add("a")
    fake.add("b")
    fake.broken["a"] = KeyError("id")
    state = run_to_end(fake, step(["a", "b"]))
    assert fake.deleted == [("b", "b-ll")]
    assert "a: internal error" in reasons(state)


def test_dry_run_deletes_and_copies_nothing_and_finishes():
    fake = FakeIconik()
    fake.add("a")
    fake.add("b", b2=None)
    state = run_to_end(fake, step(["a", "b"], dry_run=True))
    assert (fake.deleted, fake.copies) == ([], [])
    assert state.done == 1
    assert "b: would keep" in reasons(state) and "would request a copy to B2" in reasons(state)


def test_a_round_says_its_progress():
    fake = FakeIconik()
    fake.add("a")
    fake.add("b", b2="open")
    done = run(fake, step(["a", "b"]))
    assert done.processed == 1 and done.following is not None
    assert done.message == "Removed 1 of 2 assets; 1 waiting for a verified copy on B2"


def test_nothing_on_lucidlink_is_done_after_one_read():
    fake = FakeIconik()
    fake.file_sets["a"], fake.files["a"] = [], []
    state = run_to_end(fake, step(["a"]))
    assert state.done == 1 and fake.deleted == [] and fake.file_set_reads["a"] == 1


def test_a_copy_deleted_elsewhere_meanwhile_counts_as_done_not_as_a_mismatch():
    """Two Removes of one asset: the other deleted the LucidLink copy between our reads."""
    fake = FakeIconik()
    fake.add("a")
    fake.vanishing["a"] = "a-ll"
    state = run_to_end(fake, step(["a"]))
    assert state.done == 1 and state.failures == ()
    assert fake.deleted == []  # nothing deleted on that reading


def test_a_copy_deleted_while_its_files_were_listed_page_by_page_counts_as_done():
    """Found by the property-based tests: the first page of files showed the LucidLink files
    CLOSED, the next (read after someone deleted the set) DELETED. The live files seen then
    differed from B2 ("the B2 copy has 2 files, LucidLink has 1"), and the asset was named as
    kept although its copy was gone."""
    fake = FakeIconik()
    fake.add("a")
    fake.files["a"] += [
        {"file_set_id": "a-ll", "size": 20, "checksum": "d", "status": "CLOSED"},
        {"file_set_id": "a-b2", "size": 20, "checksum": "d", "status": "CLOSED"},
    ]
    fake.vanishing["a"] = "a-ll"  # deleted (its files marked DELETED) after the first read
    original = fake.asset_files

    def partly_deleted(asset: str) -> list[dict[str, Any]]:
        files = [dict(f) for f in original(asset)]
        files[0]["status"] = "CLOSED"  # on the first page, read before the delete
        return files

    fake.asset_files = partly_deleted  # type: ignore[method-assign]
    state = run_to_end(fake, step(["a"]))
    assert state.done == 1 and state.failures == ()
    assert fake.deleted == []  # nothing deleted on that reading


def test_a_copy_whose_files_look_deleted_but_is_still_listed_waits():
    fake = FakeIconik()
    fake.add("a")
    for f in fake.files["a"]:
        if f["file_set_id"] == "a-ll":
            f["status"] = "DELETED"
    done = run(fake, step(["a"]))
    assert done.following is not None and done.state.waiting == ("a",)
    assert fake.deleted == [] and "changed while being read" in _outcome_reason(fake)


def _outcome_reason(fake: FakeIconik) -> str:
    return remove.check_and_remove(fake, step(["a"]), "a").reason  # type: ignore[arg-type]
