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

import itertools
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from b2_iconik.audit.judging import Early, classify
from b2_iconik.audit.report import (
    AuditInterrupted,
    AuditReport,
    FileRow,
    Progress,
    ProgressHook,
    SetInfo,
    Sets,
    StorageLister,
)
from b2_iconik.base.errors import IconikError, IconikHTTPError
from b2_iconik.iconik.session import Json

#: Pages of a listing asked for at once: enough to keep iconik's rate budget busy at tens of
#: milliseconds a page; the client's rate limiter keeps the requests under ``ICONIK_MAX_RPS``.
PARALLEL_PAGES = 4


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
        early = Early(sets, b2_storage_id, ll_storage_id)
        _read(client, b2_storage_id, "b2", sets, progress, hook, early.step)
        progress.stage = "classifying"
        hook(progress)
        return classify(client, b2_storage_id, ll_storage_id, sets, progress, hook, early)
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
