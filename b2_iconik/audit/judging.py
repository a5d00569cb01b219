"""Judging the audit's assets by Remove's own rule, and re-reading what a listing cannot settle.

Every LucidLink file set is judged by :func:`b2_iconik.rules.verification.check_asset`, the very
function Remove calls, so there is one rule, not two. A verdict a listing read page by page may
give wrongly is confirmed by reading the asset as Remove does (three calls); what still cannot be
told is ``cannot_tell``, with the reason.
"""

from __future__ import annotations

from collections import deque

from b2_iconik.audit.report import (
    AuditClass,
    AuditReport,
    ClassTotals,
    FileRow,
    Progress,
    ProgressHook,
    SetInfo,
    SetResult,
    Sets,
    StorageLister,
)
from b2_iconik.base.errors import IconikError, is_transient
from b2_iconik.iconik.session import Json
from b2_iconik.rules.verification import IN_PROGRESS, Verdict, check_asset

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

#: Assets looked at, at most, for one that can be judged early (see ``Early``).
_LOOK_AHEAD = 64


def _b2_files(sets: dict[str, SetInfo]) -> int:
    return sum(len(info.files) for info in sets.values() if info.b2)


class Early:
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


def classify(
    client: StorageLister,
    b2_storage_id: str,
    ll_storage_id: str,
    sets_of: Sets,
    progress: Progress,
    hook: ProgressHook,
    early: Early | None = None,
) -> AuditReport:
    early = early or Early({}, b2_storage_id, ll_storage_id)
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
