"""The audit core (b2_iconik.audit): every class built in the sandbox, judged by Remove's rule.

One sandbox for the module, emptied before each test; pages of 3 so every listing has several.
The client is the plugin's own, so paging, retries and the per-asset reads are the real ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from b2_iconik.audit.reading import run_audit
from b2_iconik.audit.report import AuditClass, AuditInterrupted, AuditReport, summary
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.retry import retry_policy
from b2_iconik.iconik.session import Json
from iconik_sandbox import Sandbox

C = AuditClass


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[Sandbox]:
    with Sandbox(per_page_cap=3, copy_seconds=0.05) as sb:
        yield sb


@pytest.fixture
def sandbox(module_sandbox: Sandbox) -> Iterator[Sandbox]:
    module_sandbox.reset()
    module_sandbox.context.per_page_cap = 3
    yield module_sandbox


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[IconikClient]:
    fast = retry_policy(total=4, backoff_factor=0.01)
    with IconikClient(
        sandbox.url,
        sandbox.headers["App-ID"],
        sandbox.headers["Auth-Token"],
        retry=fast,
        copy_retry=fast,
    ) as c:
        yield c


class World:
    """Two storages and helpers to put file sets on them."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.state = sandbox.state
        self.b2 = self.state.add_storage("B2 masters", "B2")["id"]
        self.ll = self.state.add_storage("LucidLink", "FILE")["id"]

    def asset(self, title: str = "clip") -> str:
        return str(self.state.add_asset(title)["id"])

    def put(
        self, asset: str, storage: str, files: list[dict[str, Any]], fmt: str = "ORIGINAL", **kw
    ) -> str:
        return str(self.state.add_file_set(asset, fmt, storage, files=files, **kw)["id"])

    def both(self, asset: str, files: list[dict[str, Any]], fmt: str = "ORIGINAL") -> str:
        self.put(asset, self.b2, files, fmt)
        return self.put(asset, self.ll, files, fmt)


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    return World(sandbox)


def audit(client: Any, world: World) -> AuditReport:
    return run_audit(client, world.b2, world.ll)


def classes(report: AuditReport) -> dict[str, AuditClass]:
    return {r.file_set_id: r.audit_class for r in report.results}


ONE = [{"size": 100, "checksum": "aa"}]
TWO = [{"size": 100, "checksum": "aa", "name": "a.mov"}, {"size": 7, "name": "a.xml"}]


def test_every_class(world: World, client: IconikClient) -> None:
    safe = world.both(world.asset("safe"), TWO)
    pending_asset = world.asset("pending")
    world.put(pending_asset, world.b2, [{"size": 100, "checksum": "aa", "status": "OPEN"}])
    pending = world.put(pending_asset, world.ll, ONE)
    differs_asset = world.asset("differs")
    world.put(differs_asset, world.b2, [{"size": 101, "checksum": "aa"}])
    differs = world.put(differs_asset, world.ll, ONE)
    only = world.put(world.asset("only"), world.ll, ONE)
    failed_asset = world.asset("failed")
    world.put(failed_asset, world.b2, [{"size": 100, "status": "FAILED"}])
    failed = world.put(failed_asset, world.ll, ONE)
    missing_asset = world.asset("missing")
    world.put(missing_asset, world.b2, [{"size": 100, "status": "MISSING"}])
    missing = world.put(missing_asset, world.ll, ONE)
    deleted_asset = world.asset("b2 deleted")
    world.put(deleted_asset, world.b2, ONE, status="DELETED")
    deleted = world.put(deleted_asset, world.ll, ONE)
    writing_asset = world.asset("ll being written")
    world.put(writing_asset, world.b2, ONE)
    writing = world.put(writing_asset, world.ll, [{"size": 100, "status": "GROWING"}])

    report = audit(client, world)

    assert classes(report) == {
        safe: C.SAFE_TO_FREE,
        pending: C.B2_COPY_PENDING,
        differs: C.B2_COPY_DIFFERS,
        only: C.ONLY_ON_LUCIDLINK,
        failed: C.ONLY_ON_LUCIDLINK,
        missing: C.ONLY_ON_LUCIDLINK,
        deleted: C.ONLY_ON_LUCIDLINK,
        writing: C.CANNOT_TELL,
    }
    by_set = {r.file_set_id: r for r in report.results}
    assert "101 bytes" in by_set[differs].reason
    assert "MISSING" in by_set[missing].reason and "FAILED" in by_set[failed].reason
    assert by_set[writing].reason == "the LucidLink copy is still being written"
    out = summary(report)
    assert out["safe_to_free"] == {
        "assets": 1,
        "file_sets": 1,
        "bytes": 107,
        "oldest": out["safe_to_free"]["oldest"],
    }
    assert out["only_on_lucidlink"]["file_sets"] == 4
    assert out["only_on_lucidlink"]["bytes"] == 400
    assert out["listed"]["assets_reread"] == 1  # only the mismatch, confirmed


def test_mixed_formats_and_several_file_sets_per_format(world: World, client: IconikClient) -> None:
    asset = world.asset("mixed")
    original = world.both(asset, TWO, "ORIGINAL")
    proxy = world.put(asset, world.ll, [{"size": 5}], "PPRO_PROXY")
    # a second LucidLink set of ORIGINAL that matches a second B2 set; a third matching none
    world.put(asset, world.b2, [{"size": 300, "checksum": "cc"}])
    second = world.put(asset, world.ll, [{"size": 300, "checksum": "cc"}])
    third = world.put(asset, world.ll, [{"size": 9}])
    report = audit(client, world)
    assert classes(report) == {
        original: C.SAFE_TO_FREE,
        second: C.SAFE_TO_FREE,
        proxy: C.ONLY_ON_LUCIDLINK,
        third: C.B2_COPY_DIFFERS,
    }
    t = report.totals
    assert (len(t[C.SAFE_TO_FREE].assets), t[C.SAFE_TO_FREE].file_sets) == (1, 2)
    names = {r.file_set_id: r.format_name for r in report.results}
    assert names[third] == "ORIGINAL"  # confirmed by the per-asset reads, which name formats


def test_files_without_checksums_match_on_size(world: World, client: IconikClient) -> None:
    no_sums = world.both(world.asset("no sums"), [{"size": 10}, {"size": 20}])
    one_side = world.asset("one side")
    world.put(one_side, world.b2, [{"size": 10}])
    one = world.put(one_side, world.ll, [{"size": 10, "checksum": "ff"}])
    other = world.asset("other sums")
    world.put(other, world.b2, [{"size": 10, "checksum": "ee"}])
    differs = world.put(other, world.ll, [{"size": 10, "checksum": "ff"}])
    report = audit(client, world)
    assert classes(report) == {
        no_sums: C.SAFE_TO_FREE,
        one: C.SAFE_TO_FREE,
        differs: C.B2_COPY_DIFFERS,
    }


def test_recycled_lucidlink_sets_are_not_on_lucidlink(world: World, client: IconikClient) -> None:
    asset = world.asset()
    gone = world.put(asset, world.ll, ONE)
    world.state.delete_file_set(asset, gone)  # recycle bin: DELETED, not purged
    kept = world.put(world.asset(), world.ll, ONE)
    assert classes(audit(client, world)) == {kept: C.ONLY_ON_LUCIDLINK}


def test_files_read_as_deleted_in_an_active_set_cannot_be_told(
    world: World, client: IconikClient
) -> None:
    asset = world.asset()
    world.put(asset, world.b2, ONE)
    odd = world.put(asset, world.ll, ONE)
    for f in world.state.files_of(file_set_id=odd):
        world.state.set_file_status(f["id"], "DELETED")
    report = audit(client, world)
    [result] = report.results
    assert (result.file_set_id, result.audit_class) == (odd, C.CANNOT_TELL)
    assert "deleted" in result.reason
    assert report.progress.rereads == 1


class NoSetStatus:
    """The plugin's client, but the listing leaves out ``file_set_status`` (as iconik may)."""

    def __init__(self, client: IconikClient) -> None:
        self.client = client
        self.asset_reads = 0

    def storage_files(self, storage_id: str) -> Iterator[Json]:
        for page in self.client.storage_files(storage_id):
            for f in page["objects"]:
                f.pop("file_set_status", None)
            yield page

    def storage_files_page(self, storage_id: str, page: int) -> Json:
        answer = self.client.storage_files_page(storage_id, page)
        for f in answer["objects"]:
            f.pop("file_set_status", None)
        return answer

    def asset_formats(self, asset_id: str) -> list[Json]:
        self.asset_reads += 1
        return self.client.asset_formats(asset_id)

    def asset_file_sets(self, asset_id: str) -> list[Json]:
        return self.client.asset_file_sets(asset_id)

    def asset_files(self, asset_id: str) -> list[Json]:
        return self.client.asset_files(asset_id)


def test_the_per_asset_reads_settle_what_the_listing_cannot(
    world: World, client: IconikClient
) -> None:
    safe = world.both(world.asset("safe"), ONE)
    only = world.put(world.asset("only"), world.ll, ONE)
    lister = NoSetStatus(client)
    report = run_audit(lister, world.b2, world.ll)
    assert classes(report) == {safe: C.SAFE_TO_FREE, only: C.ONLY_ON_LUCIDLINK}
    assert lister.asset_reads == 2
    assert {r.format_name for r in report.results} == {"ORIGINAL"}


def test_listing_costs_pages_not_assets(
    sandbox: Sandbox, world: World, client: IconikClient
) -> None:
    for n in range(10):
        world.both(world.asset(f"a{n}"), ONE)
    for n in range(20):  # B2 files of assets not on LucidLink: listed, not kept
        world.put(world.asset(f"b{n}"), world.b2, ONE)
    sandbox.requests.clear()
    report = audit(client, world)
    assert report.totals[C.SAFE_TO_FREE].file_sets == 10
    paths = [r.path for r in sandbox.requests.list()]
    assert all(p.endswith("/files/") for p in paths), paths
    assert len(paths) == 4 + 10  # 10 LucidLink files and 30 B2 files, 3 a page
    assert all(r.method == "GET" for r in sandbox.requests.list())


def test_429_and_5xx_mid_listing_are_retried(
    sandbox: Sandbox, world: World, client: IconikClient
) -> None:
    for n in range(8):
        world.both(world.asset(f"a{n}"), ONE)
    sandbox.faults.fail_next("GET", r"/storages/.*/files/", status=429, count=2)
    sandbox.faults.fail_next("GET", r"/storages/.*/files/", status=503, count=1)
    report = audit(client, world)
    assert report.totals[C.SAFE_TO_FREE].file_sets == 8


def test_an_interrupted_audit_says_how_far_it_got(
    sandbox: Sandbox, world: World, client: IconikClient
) -> None:
    for n in range(8):
        world.both(world.asset(f"a{n}"), ONE)
    pages = 0

    def hook(_progress: Any) -> None:
        nonlocal pages
        pages += 1
        if pages == 3:  # LucidLink read (3 pages): then iconik fails for good
            sandbox.faults.fail_next("GET", r"/storages/.*/files/", status=503, count=50)

    with pytest.raises(AuditInterrupted) as stopped:
        run_audit(client, world.b2, world.ll, on_progress=hook)
    text = str(stopped.value)
    assert "iconik answered 503" in text
    assert "audit stopped while listing the B2 storage" in text
    assert "LucidLink: 8 of 8 files in 3 pages, B2: 0 files in 0 pages" in text


class Moving:
    """The plugin's client; ``on_page(storage_id, page)`` runs before each page is read."""

    def __init__(self, client: IconikClient, on_page: Any) -> None:
        self.client, self.on_page = client, on_page
        self.scrolled: list[str] = []

    def storage_files_page(self, storage_id: str, page: int) -> Json:
        self.on_page(storage_id, page)
        return self.client.storage_files_page(storage_id, page)

    def storage_files(self, storage_id: str) -> Iterator[Json]:
        self.scrolled.append(storage_id)
        return self.client.storage_files(storage_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_file_set_deleted_between_pages(world: World, client: IconikClient) -> None:
    """Deleting a set shifts page numbers: the listing's total moves, so the storage is read
    again by a scroll (one snapshot), and nothing is skipped or misjudged."""
    others = [world.both(world.asset(f"o{n}"), ONE) for n in range(2)]
    first = world.asset("first")
    world.put(first, world.b2, TWO)
    doomed = world.put(first, world.ll, TWO)  # its files on LucidLink pages 1 and 2
    others += [world.both(world.asset(f"late{n}"), ONE) for n in range(4)]

    def purge(storage_id: str, page: int) -> None:
        if storage_id == world.ll and page == 2:
            world.state.delete_file_set(first, doomed, immediately=True)

    lister = Moving(client, purge)
    report = run_audit(lister, world.b2, world.ll)
    assert classes(report) == {o: C.SAFE_TO_FREE for o in others}
    assert lister.scrolled == [world.ll]
    assert report.progress.relisted == ["lucidlink"]
    assert summary(report)["listed"]["relisted_by_scroll"] == ["lucidlink"]


def test_a_set_purged_mid_scroll_is_confirmed_gone(world: World, client: IconikClient) -> None:
    """Within a scroll, a set purged between pages leaves part of its files: a mismatch, which
    the per-asset reads confirm is a set deleted meanwhile, never a 'differs'."""
    others = [world.both(world.asset(f"o{n}"), ONE) for n in range(2)]
    first = world.asset("first")
    world.put(first, world.b2, TWO)
    doomed = world.put(first, world.ll, TWO)
    others.append(world.both(world.asset("last"), ONE))

    class ScrollOnly(Moving):
        def storage_files_page(self, storage_id: str, page: int) -> Json:
            return {"objects": []}  # no total: page numbers are not to be had

    seen = 0

    def hook(_progress: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == 1:  # after the first scroll page of LucidLink (one of the set's files)
            world.state.delete_file_set(first, doomed, immediately=True)

    report = run_audit(ScrollOnly(client, None), world.b2, world.ll, on_progress=hook)
    assert classes(report) == {o: C.SAFE_TO_FREE for o in others}
    assert report.deleted_while_reading == 1


def test_unknown_storage_and_missing_role(
    sandbox: Sandbox, world: World, client: IconikClient
) -> None:
    with pytest.raises(AuditInterrupted) as unknown:
        run_audit(client, world.b2, "7f7f7f7f-0000-4000-8000-000000000000")
    assert getattr(unknown.value.cause, "status", None) == 404
    sandbox.add_token(sandbox.headers["App-ID"], "weak", without_roles={"can_list_storage_files"})
    client.use_token("weak")
    with pytest.raises(AuditInterrupted) as refused:
        run_audit(client, world.b2, world.ll)
    assert getattr(refused.value.cause, "status", None) == 403


def test_early_judgements_are_used_only_if_nothing_came_since() -> None:
    """Assets are judged between B2 pages; a B2 file of the asset coming later voids it."""
    from b2_iconik.audit.judging import Early
    from b2_iconik.audit.report import FileRow, SetInfo
    from b2_iconik.rules.verification import Verdict

    row = FileRow("a.mov", 10, "aa", "CLOSED")
    sets = {
        "asset": {
            "ll-set": SetInfo("ACTIVE", [row, row._replace(name="b.mov")], format_id="f"),
            "b2-set": SetInfo("ACTIVE", [row], format_id="f", b2=True),
        },
        "later": {"ll-2": SetInfo("ACTIVE", [row], format_id="f")},  # no B2 file yet
    }
    early = Early(sets, "b2", "ll")
    assert early.step() is True  # "asset": its format has begun to come on B2
    assert early.step() is False  # "later" is not ready
    [(_, verdict, _)] = early.done["asset"][1]
    assert verdict is Verdict.MISMATCH  # one B2 file of two, so far
    sets["asset"]["b2-set"].files.append(row._replace(name="b.mov"))
    [(_, verdict, _)] = early.judged("asset", sets["asset"])
    assert verdict is Verdict.VERIFIED  # judged again: a file came since
    assert "asset" not in early.done
