"""The storage-wide audit: every LucidLink file set, classified by Remove's own safety rule.

Remove answers "is this safe to free?" one selection at a time, at three reads an asset. The audit
answers it for a whole LucidLink storage at the cost of listing two storages: iconik's storage
files listing (``GET /API/files/v1/storages/{id}/files/``) gives, for every file, its asset, file
set, format (by id: one format object of the asset, shared by its file sets on every storage),
size, status, checksum and its file set's status. The two listings are joined by asset and format
and each LucidLink file set is judged by :func:`b2_iconik.rules.verification.check_asset`, the very
function Remove calls, so there is one rule, not two.

Memory stays bounded by the LucidLink side: the LucidLink storage is listed first and kept as
small tuples per (asset, format); the B2 listing is then read page by page and only the files of
those (asset, format) pairs are kept, so a B2 storage three times larger costs time, not memory.

Where the listing cannot settle a case, the asset is read the way Remove reads it (its formats,
file sets and files: three calls) and judged again: a file whose file set status the listing does
not give (or gives two ways), a LucidLink set whose files read as deleted while the set is listed
as active (it was being deleted while the pages were read), and a copy that differs (a set that
changed between two pages looks like one). What still cannot be told is classified ``cannot_tell``
with the reason. The audit only reads; acting on it goes through the existing paths (a bulk copy
for ``only_on_lucidlink``, an ordinary Remove for ``safe_to_free``), see
:mod:`b2_iconik.custom_actions.audit`.
"""

from __future__ import annotations

import heapq
import itertools
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple, Protocol

from b2_iconik.base.errors import IconikError, IconikHTTPError, is_transient
from b2_iconik.iconik.session import Json
from b2_iconik.rules.verification import IN_PROGRESS, Verdict, check_asset


class AuditClass(Enum):
    """The audit's classes of LucidLink file sets; the value is the JSON key."""

    SAFE_TO_FREE = "safe_to_free"
    B2_COPY_PENDING = "b2_copy_pending"
    B2_COPY_DIFFERS = "b2_copy_differs"
    ONLY_ON_LUCIDLINK = "only_on_lucidlink"
    CANNOT_TELL = "cannot_tell"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    AuditClass.SAFE_TO_FREE: "safe to free",
    AuditClass.B2_COPY_PENDING: "B2 copy pending",
    AuditClass.B2_COPY_DIFFERS: "B2 copy differs",
    AuditClass.ONLY_ON_LUCIDLINK: "only on LucidLink",
    AuditClass.CANNOT_TELL: "cannot tell",
}

#: The rule's verdict -> the audit's class (PENDING on the LucidLink side is told apart below).
_CLASS_OF = {
    Verdict.VERIFIED: AuditClass.SAFE_TO_FREE,
    Verdict.PENDING: AuditClass.B2_COPY_PENDING,
    Verdict.MISMATCH: AuditClass.B2_COPY_DIFFERS,
    Verdict.COPY_NEEDED: AuditClass.ONLY_ON_LUCIDLINK,
}

#: Verdicts a listing read page by page may give wrongly, as a file set changed between pages
#: (files deleted, purged or added): each is confirmed by reading the asset as Remove does. A
#: mismatch found in a healthy storage is rare, so confirming it costs little.
_CONFIRM = frozenset({Verdict.GONE, Verdict.MISMATCH})

#: Pages of a listing asked for at once: enough to keep iconik's rate budget busy at tens of
#: milliseconds a page; the client's rate limiter keeps the requests under ``ICONIK_MAX_RPS``.
PARALLEL_PAGES = 4

#: Assets looked at, at most, for one that can be judged early (see ``_Early``).
_LOOK_AHEAD = 64

#: How many of the oldest file sets each class keeps for the report.
OLDEST = 5


class FileRow(NamedTuple):
    """What the rule needs of one listed file, and no more (kept for every LucidLink file)."""

    name: str
    size: int | None
    checksum: str | None
    status: str


@dataclass(slots=True)
class SetInfo:
    """One file set as the listing shows it: its status (None: not given), its files, the
    oldest of their dates, its format (id) and whether it is on B2 (else on LucidLink)."""

    status: str | None
    files: list[FileRow] = field(default_factory=list)
    date: str = ""
    format_id: str = ""
    b2: bool = False


#: asset id -> file set id -> the set, LucidLink's and B2's of the formats on LucidLink: one
#: small dict per asset, so 100,000 file sets stay within tens of megabytes
Sets = dict[str, dict[str, SetInfo]]


@dataclass(frozen=True)
class SetResult:
    """The audit's reading of one LucidLink file set."""

    asset_id: str
    format_id: str
    format_name: str | None
    file_set_id: str
    audit_class: AuditClass
    bytes: int
    date: str
    reason: str


@dataclass
class ClassTotals:
    """Counts of one class: distinct assets, file sets, bytes (of the LucidLink copies)."""

    assets: set[str] = field(default_factory=set)
    file_sets: int = 0
    bytes: int = 0
    results: list[SetResult] = field(default_factory=list)

    def add(self, result: SetResult) -> None:
        self.assets.add(result.asset_id)
        self.file_sets += 1
        self.bytes += result.bytes
        self.results.append(result)

    def oldest_sets(self, most: int = OLDEST) -> list[dict[str, str]]:
        """The oldest file sets, oldest first: ``{"asset_id", "file_set_id", "date"}``."""
        dated = (r for r in self.results if r.date)
        return [
            {"asset_id": r.asset_id, "file_set_id": r.file_set_id, "date": r.date}
            for r in heapq.nsmallest(most, dated, key=lambda r: r.date)
        ]


@dataclass
class Progress:
    """How far the audit got: pages and files read of each storage, assets re-read."""

    stage: str = "starting"
    pages: dict[str, int] = field(default_factory=lambda: {"lucidlink": 0, "b2": 0})
    files: dict[str, int] = field(default_factory=lambda: {"lucidlink": 0, "b2": 0})
    totals: dict[str, int | None] = field(default_factory=lambda: {"lucidlink": None, "b2": None})
    rereads: int = 0
    classified: int = 0
    #: the storages read again by a scroll, their pages having moved while read by number
    relisted: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Where the audit is, in words."""
        parts = []
        for side, words in (("lucidlink", "LucidLink"), ("b2", "B2")):
            total = self.totals[side]
            of = f" of {total:,}" if total is not None else ""
            parts.append(f"{words}: {self.files[side]:,}{of} files in {self.pages[side]:,} pages")
        if self.rereads:
            parts.append(f"{self.rereads:,} assets re-read")
        if self.classified:
            parts.append(f"{self.classified:,} file sets classified")
        return f"{self.stage}; " + ", ".join(parts)


class AuditInterrupted(Exception):
    """The audit stopped before the end; ``progress`` says how far it got."""

    def __init__(self, cause: BaseException, progress: Progress) -> None:
        what = "interrupted" if isinstance(cause, KeyboardInterrupt) else str(cause)
        super().__init__(f"{what} (audit stopped while {progress.describe()})")
        self.cause = cause
        self.progress = progress


@dataclass
class AuditReport:
    """Every LucidLink file set's class, with the totals per class."""

    b2_storage_id: str
    ll_storage_id: str
    totals: dict[AuditClass, ClassTotals]
    progress: Progress
    deleted_while_reading: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def results(self) -> Iterator[SetResult]:
        """Every classified LucidLink file set, class by class."""
        for totals in self.totals.values():
            yield from totals.results

    def assets_of(self, audit_class: AuditClass) -> list[str]:
        """The distinct asset ids with a file set of this class, in listing order."""
        return list(dict.fromkeys(r.asset_id for r in self.totals[audit_class].results))


class StorageLister(Protocol):
    """What the audit needs of iconik (the plugin's
    :class:`~b2_iconik.iconik.client.IconikClient`)."""

    def storage_files(self, storage_id: str) -> Iterator[Json]: ...

    def storage_files_page(self, storage_id: str, page: int) -> Json: ...

    def asset_formats(self, asset_id: str) -> list[Json]: ...

    def asset_file_sets(self, asset_id: str) -> list[Json]: ...

    def asset_files(self, asset_id: str) -> list[Json]: ...


ProgressHook = Callable[[Progress], None]


def run_audit(
    client: StorageLister,
    b2_storage_id: str,
    ll_storage_id: str,
    on_progress: ProgressHook | None = None,
) -> AuditReport:
    """List both storages, join them and classify every LucidLink file set.

    Raises:
        AuditInterrupted: iconik failed for good, or the operator pressed Ctrl-C; it says how
            far the audit got.
    """
    progress = Progress()
    hook = on_progress or (lambda _p: None)
    try:
        progress.stage = "listing the LucidLink storage"
        sets: Sets = {}
        _read(client, ll_storage_id, "lucidlink", sets, progress, hook)
        progress.stage = "listing the B2 storage"
        early = _Early(sets, b2_storage_id, ll_storage_id)
        _read(client, b2_storage_id, "b2", sets, progress, hook, early.step)
        progress.stage = "classifying"
        hook(progress)
        return _classify(client, b2_storage_id, ll_storage_id, sets, progress, hook, early)
    except (IconikError, KeyboardInterrupt) as error:
        raise AuditInterrupted(error, progress) from None


def _read(
    client: StorageLister,
    storage_id: str,
    side: str,
    into: Sets,
    progress: Progress,
    hook: ProgressHook,
    idle: Callable[[], bool] | None = None,
) -> None:
    """Read one storage's listing into compact rows (of B2, only the files of the assets and
    formats on LucidLink, read first).

    Pages are asked for by number, several at once (iconik answers each in tens of
    milliseconds, so one at a time would leave most of the rate budget unused), and taken in
    order. Page numbers shift when the storage changes while it is read: every page carries the
    storage's ``total``, and when it moved, or the files read do not add up to it, or iconik
    refuses a page, the storage is read again from the start by a scroll, which walks one
    snapshot page after page.
    """
    if _read_by_number(client, storage_id, side, into, progress, hook, idle):
        return
    _forget(into, side)
    progress.relisted.append(side)
    progress.pages[side] = progress.files[side] = 0
    formats: dict[str, set[str]] = _formats_on_lucidlink(into) if side == "b2" else {}
    for page in client.storage_files(storage_id):
        _take(page, side, into, progress, formats)
        hook(progress)


def _forget(into: Sets, side: str) -> None:
    """Drop what one side's listing added, before it is read again."""
    if side == "lucidlink":
        into.clear()
        return
    for sets in into.values():
        for set_id in [i for i, info in sets.items() if info.b2]:
            del sets[set_id]


def _formats_on_lucidlink(into: Sets) -> dict[str, set[str]]:
    """asset id -> the format ids it has on LucidLink: the B2 files worth keeping."""
    return {a: {info.format_id for info in sets.values()} for a, sets in into.items()}


def _read_by_number(
    client: StorageLister,
    storage_id: str,
    side: str,
    into: Sets,
    progress: Progress,
    hook: ProgressHook,
    idle: Callable[[], bool] | None = None,
) -> bool:
    """The fast way: pages by number, ``PARALLEL_PAGES`` in flight. False: read it again.

    ``idle``: work to do while the next page is on its way (it returns False when it has
    none for now); the listing is bound by iconik's rate, so the CPU is mostly free meanwhile.
    """
    formats: dict[str, set[str]] = _formats_on_lucidlink(into) if side == "b2" else {}
    first = client.storage_files_page(storage_id, 1)
    total, pages = first.get("total"), first.get("pages")
    if not isinstance(total, int) or not isinstance(pages, int):
        return False
    _take(first, side, into, progress, formats)
    hook(progress)
    with ThreadPoolExecutor(PARALLEL_PAGES, thread_name_prefix=f"audit-{side}") as pool:
        pending: deque[Future[Json]] = deque()
        numbers = iter(range(2, pages + 1))
        try:
            for number in itertools.islice(numbers, 2 * PARALLEL_PAGES):
                pending.append(pool.submit(client.storage_files_page, storage_id, number))
            while pending:
                while idle is not None and not pending[0].done() and idle():
                    pass
                try:
                    page = pending.popleft().result()
                except IconikHTTPError as error:
                    if error.status in (400, 404):  # a page iconik will not give by number
                        return False
                    raise
                for number in itertools.islice(numbers, 1):
                    pending.append(pool.submit(client.storage_files_page, storage_id, number))
                if page.get("total") != total:
                    return False  # the storage changed while it was read: pages shifted
                _take(page, side, into, progress, formats)
                hook(progress)
        finally:
            for future in pending:
                future.cancel()
    return progress.files[side] == total


def _take(
    page: Json, side: str, into: Sets, progress: Progress, formats: dict[str, set[str]]
) -> None:
    """Add one page's files to ``into`` as compact rows (of B2, only those ``formats`` holds:
    asset id -> format ids on LucidLink)."""
    progress.pages[side] += 1
    total = page.get("total")
    progress.totals[side] = total if isinstance(total, int) else None
    b2 = side == "b2"
    for file in page.get("objects") or []:
        progress.files[side] += 1
        asset_id, format_id = file.get("asset_id"), file.get("format_id")
        set_id = file.get("file_set_id")
        if not (asset_id and format_id and set_id):
            continue  # not a file of an asset's file set (iconik lists other files too)
        asset_id, format_id, set_id = str(asset_id), str(format_id), str(set_id)
        if b2:
            wanted = formats.get(asset_id)
            if wanted is None or format_id not in wanted:
                continue
        sets = into.setdefault(asset_id, {})
        status = file.get("file_set_status")
        info = sets.get(set_id)
        date = str(file.get("date_created") or file.get("file_date_created") or "")
        if info is None:
            info = sets[set_id] = SetInfo(
                sys.intern(status) if status else None,
                date=date,
                format_id=sys.intern(format_id),
                b2=b2,
            )
        else:
            if status and info.status != status:
                info.status = None  # two readings of the set's status: the listing cannot say
            if date and (not info.date or date < info.date):
                info.date = date
        size = file.get("size")
        info.files.append(
            FileRow(
                str(file.get("name") or file.get("original_name") or file.get("id")),
                size if isinstance(size, int) else None,
                file.get("checksum") or None,
                sys.intern(str(file.get("status"))),
            )
        )


def _b2_files(sets: dict[str, SetInfo]) -> int:
    return sum(len(info.files) for info in sets.values() if info.b2)


class _Early:
    """Judging assets while the B2 listing is still read, in the time between its pages.

    An asset is judged on what was read so far, and the B2 file count it was judged on is kept:
    a judgement is used in the end only if no B2 file of the asset came after it (files are
    only ever added while a listing is read), and none is if the B2 storage had to be read
    again. The listing's order decides how many judgements last; never what they say.
    """

    def __init__(self, sets: Sets, b2_storage_id: str, ll_storage_id: str) -> None:
        self.sets, self.b2, self.ll = sets, b2_storage_id, ll_storage_id
        self.waiting: deque[str] = deque(sets)
        self.done: dict[str, tuple[int, list[tuple[str, Verdict, str]]]] = {}

    def step(self) -> bool:
        """Judge one asset whose B2 files of every format on LucidLink have begun to come;
        False when none is ready yet (among the next few looked at)."""
        for _ in range(min(_LOOK_AHEAD, len(self.waiting))):
            asset_id = self.waiting.popleft()
            sets = self.sets.get(asset_id) or {}
            on_b2 = {s.format_id for s in sets.values() if s.b2}
            if not all(s.b2 or s.format_id in on_b2 for s in sets.values()):
                self.waiting.append(asset_id)
                continue
            if all(s.status is not None for s in sets.values()):
                self.done[asset_id] = (_b2_files(sets), _judge(asset_id, self.b2, self.ll, sets))
            return True
        return False

    def judged(self, asset_id: str, sets: dict[str, SetInfo]) -> list[tuple[str, Verdict, str]]:
        """The asset's judgement: the early one if nothing came since, else made now."""
        early = self.done.pop(asset_id, None)
        if early is not None and early[0] == _b2_files(sets):
            return early[1]
        return _judge(asset_id, self.b2, self.ll, sets)


def _classify(
    client: StorageLister,
    b2_storage_id: str,
    ll_storage_id: str,
    sets_of: Sets,
    progress: Progress,
    hook: ProgressHook,
    early: _Early | None = None,
) -> AuditReport:
    early = early or _Early({}, b2_storage_id, ll_storage_id)
    if "b2" in progress.relisted:
        early.done.clear()  # judged on a listing that was then thrown away
    totals = {c: ClassTotals() for c in AuditClass}
    report = AuditReport(b2_storage_id, ll_storage_id, totals, progress)
    reread: dict[str, list[tuple[str, str]]] = {}  # asset -> its (format, set) to read again
    for asset_id in list(sets_of):
        sets = sets_of.pop(asset_id)  # freed as it is judged
        live = {i: s for i, s in sets.items() if not s.b2 and s.status != "DELETED"}
        if not live:
            continue  # in the recycle bin: no longer on LucidLink
        unsure = {s.format_id for s in sets.values() if s.status is None}
        for set_id, info in live.items():
            if info.format_id in unsure:
                reread.setdefault(asset_id, []).append((info.format_id, set_id))
        judged = {i: s for i, s in sets.items() if s.format_id not in unsure} if unsure else sets
        if any(not s.b2 for s in judged.values()):
            verdicts = (
                early.judged(asset_id, judged)
                if judged is sets
                else _judge(asset_id, b2_storage_id, ll_storage_id, judged)
            )
            for set_id, verdict, reason in verdicts:
                info = live[set_id]
                if verdict in _CONFIRM:
                    reread.setdefault(asset_id, []).append((info.format_id, set_id))
                    continue
                _record(report, asset_id, info.format_id, None, set_id, info, verdict, reason)
        progress.classified += len(live)
    hook(progress)
    progress.stage = "re-reading the assets the listings cannot settle"
    for asset_id, wanted in reread.items():
        _reread(client, report, asset_id, wanted, b2_storage_id, ll_storage_id)
        progress.rereads += 1
        hook(progress)
    progress.stage = "done"
    hook(progress)
    return report


def _judge(
    asset_id: str, b2_storage_id: str, ll_storage_id: str, sets: dict[str, SetInfo]
) -> list[tuple[str, Verdict, str]]:
    """Remove's rule on one asset, fed with what the listings gave, as iconik's dicts (its
    formats named by their ids: the listings give no names)."""
    format_ids = tuple(dict.fromkeys(s.format_id for s in sets.values() if not s.b2))
    formats = [{"id": f, "name": f, "status": "ACTIVE"} for f in format_ids]
    file_sets: list[Json] = []
    files: list[Json] = []
    for set_id, info in sets.items():
        file_sets.append(
            {
                "id": set_id,
                "format_id": info.format_id,
                "storage_id": b2_storage_id if info.b2 else ll_storage_id,
                "status": info.status,
            }
        )
        files.extend(
            {
                "file_set_id": set_id,
                "name": f.name,
                "size": f.size,
                "checksum": f.checksum,
                "status": f.status,
            }
            for f in info.files
        )
    check = check_asset(
        asset_id, format_ids, b2_storage_id, ll_storage_id, formats, file_sets, files
    )
    return [(c.file_set_id, c.verdict, c.reason) for c in check.checks]


def _record(
    report: AuditReport,
    asset_id: str,
    format_id: str,
    format_name: str | None,
    set_id: str,
    info: SetInfo,
    verdict: Verdict,
    reason: str,
) -> None:
    audit_class = _CLASS_OF.get(verdict, AuditClass.CANNOT_TELL)
    live = [f for f in info.files if f.status != "DELETED"]
    if verdict is Verdict.PENDING and any(f.status in IN_PROGRESS for f in live):
        # the rule waits because the LucidLink copy itself is being written: no B2 question yet
        audit_class = AuditClass.CANNOT_TELL
    # the rule names formats by the name it was given: the listing's format id
    words = reason.replace(f"{format_id}: ", "", 1) if reason else ""
    if format_name and reason:
        words = reason.replace(f"{format_name}: ", "", 1)
    if audit_class is AuditClass.CANNOT_TELL and not words:
        words = "the listings do not settle it"
    result = SetResult(
        asset_id,
        format_id,
        format_name,
        set_id,
        audit_class,
        sum(f.size or 0 for f in live),
        info.date,
        words,
    )
    report.totals[audit_class].add(result)
    if words and audit_class is not AuditClass.SAFE_TO_FREE:
        report.reasons[words] = report.reasons.get(words, 0) + 1


def _reread(
    client: StorageLister,
    report: AuditReport,
    asset_id: str,
    wanted: list[tuple[str, str]],
    b2_storage_id: str,
    ll_storage_id: str,
) -> None:
    """Judge an asset from Remove's own reads (formats, file sets, files) where the listing
    could not; what the reads cannot settle either is ``cannot_tell`` with the reason."""
    try:
        formats = client.asset_formats(asset_id)
        file_sets = client.asset_file_sets(asset_id)
        files = client.asset_files(asset_id)
    except IconikError as error:
        if getattr(error, "status", None) in (401, 403) or is_transient(error):
            raise
        for format_id, set_id in wanted:
            _cannot(report, asset_id, format_id, set_id, f"the asset could not be read: {error}")
        return
    names = {str(f.get("id")): str(f.get("name")) for f in formats}
    wanted_formats = {f for f, _ in wanted}
    format_names = tuple(dict.fromkeys(names[f] for f in wanted_formats if f in names))
    check = check_asset(
        asset_id, format_names, b2_storage_id, ll_storage_id, formats, file_sets, files
    )
    by_set = {c.file_set_id: c for c in check.checks}
    sets_of = _sets_from(files)
    for format_id, set_id in wanted:
        c = by_set.get(set_id)
        if c is None:
            # no longer an active LucidLink set of an active format: deleted meanwhile
            report.deleted_while_reading += 1
            continue
        if c.verdict is Verdict.GONE:
            _cannot(
                report,
                asset_id,
                format_id,
                set_id,
                "its LucidLink files read as deleted while the set is listed active",
                sets_of.get(set_id),
                names.get(format_id),
            )
            continue
        info = sets_of.get(set_id) or SetInfo(None)
        _record(
            report, asset_id, format_id, names.get(format_id), set_id, info, c.verdict, c.reason
        )


def _sets_from(files: list[Json]) -> dict[str, SetInfo]:
    """Remove's per-asset file listing as the audit's compact sets (by file set id)."""
    sets: dict[str, SetInfo] = {}
    for f in files:
        size = f.get("size")
        date = str(f.get("date_created") or "")
        info = sets.setdefault(str(f.get("file_set_id")), SetInfo(None, date=date))
        if date and (not info.date or date < info.date):
            info.date = date
        info.files.append(
            FileRow(
                str(f.get("name") or f.get("id")),
                size if isinstance(size, int) else None,
                f.get("checksum") or None,
                str(f.get("status")),
            )
        )
    return sets


def _cannot(
    report: AuditReport,
    asset_id: str,
    format_id: str,
    set_id: str,
    reason: str,
    info: SetInfo | None = None,
    format_name: str | None = None,
) -> None:
    info = info or SetInfo(None)
    live = [f for f in info.files if f.status != "DELETED"]
    result = SetResult(
        asset_id,
        format_id,
        format_name,
        set_id,
        AuditClass.CANNOT_TELL,
        sum(f.size or 0 for f in live),
        info.date,
        reason,
    )
    report.totals[AuditClass.CANNOT_TELL].add(result)
    report.reasons[reason] = report.reasons.get(reason, 0) + 1


def summary(report: AuditReport) -> dict[str, Any]:
    """The audit as one JSON-able object (the ``--json`` output; see docs/audit-schema.json)."""
    out: dict[str, Any] = {}
    for audit_class in AuditClass:
        t = report.totals[audit_class]
        out[audit_class.value] = {
            "assets": len(t.assets),
            "file_sets": t.file_sets,
            "bytes": t.bytes,
            "oldest": t.oldest_sets(),
        }
    out["storages"] = {"b2": report.b2_storage_id, "lucidlink": report.ll_storage_id}
    out["listed"] = {
        "lucidlink_files": report.progress.files["lucidlink"],
        "b2_files": report.progress.files["b2"],
        "pages": report.progress.pages["lucidlink"] + report.progress.pages["b2"],
        "assets_reread": report.progress.rereads,
        "relisted_by_scroll": list(report.progress.relisted),
    }
    out["deleted_while_reading"] = report.deleted_while_reading
    out["reasons"] = dict(sorted(report.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return out
