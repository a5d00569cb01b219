"""The remove safety rule (DESIGN §5), as a pure function of what iconik lists for one asset.

A LucidLink file set of a requested format may be deleted only when the same asset has on the
B2 storage an ACTIVE file set of the same format whose files are all CLOSED and match the
LucidLink files one for one: same count, same sizes, equal checksums where both sides have one.

Everything here is conservative: whatever cannot be shown to match is *not* verified. A listing
that disagrees with its own ``file_count``, a B2 file set with no files, a file of unknown size:
none of them verify. A LucidLink file set whose files are all deleted, or no longer listed, is
GONE: someone else (another action, a person in iconik) is deleting it; the caller confirms that
before it counts the set as done, and never deletes anything on that verdict. So is one that
would be a mismatch while some of its files read as deleted: it may have been deleted while its
files were listed page by page. Nothing here
talks to iconik, so every branch is tested directly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from enum import Enum

from b2_iconik.iconik.session import Json

#: B2 file statuses that mean "a copy is on its way": wait for it.
IN_PROGRESS = frozenset({"OPEN", "GROWING", "AWAITED", "REDISCOVERED"})


class Verdict(Enum):
    """What the rule says of one LucidLink file set."""

    VERIFIED = "verified"  # safe to delete
    COPY_NEEDED = "copy needed"  # no usable B2 copy: ask iconik for one, then wait
    PENDING = "pending"  # a B2 copy is being written: wait
    MISMATCH = "mismatch"  # a finished B2 copy differs: never delete, do not wait
    GONE = "gone"  # the LucidLink copy is being deleted elsewhere: nothing to do, if confirmed


#: Unverified verdicts, most hopeful first: a copy being written beats one to request, which
#: beats a finished copy that differs (when several B2 file sets of a format disagree).
_HOPE = (Verdict.PENDING, Verdict.COPY_NEEDED, Verdict.MISMATCH)


@dataclass(frozen=True)
class FileSetCheck:
    """The verdict on one LucidLink file set, with the reason in words."""

    format_name: str
    file_set_id: str
    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True)
class AssetCheck:
    """The verdicts on every LucidLink file set of the requested formats of one asset."""

    asset_id: str
    checks: tuple[FileSetCheck, ...] = field(default_factory=tuple)

    def with_verdict(self, *verdicts: Verdict) -> list[FileSetCheck]:
        """The checks whose verdict is one of these."""
        return [c for c in self.checks if c.verdict in verdicts]

    def confirm_gone(self, still_listed: set[str]) -> AssetCheck:
        """GONE verdicts checked against a fresh listing of the LucidLink file sets.

        A set that is still listed ACTIVE is not gone: its files were read mid-change, so it is
        checked again later (PENDING), never deleted on this reading.
        """
        checks = tuple(
            replace(c, verdict=Verdict.PENDING, reason=f"{c.format_name}: its files changed "
                    "while being read; checking again")
            if c.verdict is Verdict.GONE and c.file_set_id in still_listed
            else c
            for c in self.checks
        )
        return AssetCheck(self.asset_id, checks)

    def formats_needing_copy(self) -> list[str]:
        """Format names whose B2 copy must be requested."""
        names = (c.format_name for c in self.with_verdict(Verdict.COPY_NEEDED))
        return list(dict.fromkeys(names))


def check_asset(
    asset_id: str,
    format_names: tuple[str, ...],
    b2_storage_id: str,
    ll_storage_id: str,
    formats: list[Json],
    file_sets: list[Json],
    files: list[Json],
) -> AssetCheck:
    """Apply the safety rule to every LucidLink file set of the requested formats.

    Args:
        asset_id: the asset.
        format_names: the requested formats (e.g. ORIGINAL, PPRO_PROXY).
        b2_storage_id, ll_storage_id: the two storages.
        formats, file_sets, files: what iconik lists for the asset (all formats, all storages).

    Returns:
        one verdict per ACTIVE LucidLink file set of a requested format (none: nothing to do).
    """
    format_ids = _format_ids(formats, format_names)
    files_by_set: dict[str, list[Json]] = defaultdict(list)
    for file in files:
        files_by_set[str(file.get("file_set_id"))].append(file)
    checks = []
    for file_set in file_sets:
        name = format_ids.get(str(file_set.get("format_id")))
        if name is None or not _on(file_set, ll_storage_id) or not _active(file_set):
            continue
        b2_sets = [
            s
            for s in file_sets
            if _on(s, b2_storage_id)
            and s.get("status") == "ACTIVE"  # explicitly: a B2 set of unknown status never counts
            and s.get("format_id") == file_set["format_id"]
        ]
        checks.append(_check_file_set(name, file_set, b2_sets, files_by_set))
    return AssetCheck(asset_id, tuple(checks))


def _check_file_set(
    format_name: str, ll_set: Json, b2_sets: list[Json], files_by_set: dict[str, list[Json]]
) -> FileSetCheck:
    """The verdict on one LucidLink file set against every ACTIVE B2 file set of its format."""
    ll_id = str(ll_set["id"])
    listed = files_by_set.get(ll_id, [])
    ll_files = _live(listed)

    def verdict(v: Verdict, reason: str = "") -> FileSetCheck:
        return FileSetCheck(format_name, ll_id, v, f"{format_name}: {reason}" if reason else "")

    if listed and not ll_files:
        return verdict(Verdict.GONE, "its LucidLink files are already deleted")
    if not listed:
        return verdict(Verdict.GONE, "no LucidLink files are listed for it")
    if not _complete(ll_set, listed):
        return verdict(Verdict.PENDING, "LucidLink file list is incomplete; checking again")
    if any(str(f.get("status")) in IN_PROGRESS for f in ll_files):
        return verdict(Verdict.PENDING, "the LucidLink copy is still being written")
    if not b2_sets:
        return verdict(Verdict.COPY_NEEDED, "no copy on B2")
    results = [
        _compare(ll_files, b2_set, files_by_set.get(str(b2_set["id"]), [])) for b2_set in b2_sets
    ]
    if any(result is Verdict.VERIFIED for result, _ in results):
        return verdict(Verdict.VERIFIED)
    best = min((result for result, _ in results), key=_HOPE.index)
    if best is Verdict.MISMATCH and len(ll_files) < len(listed):
        # Some of its files read as DELETED: the set may have been deleted while its files were
        # listed (page by page), so the live files seen are a part of it. A mismatch is
        # reported at once; this one must first be confirmed, as GONE is.
        return verdict(Verdict.GONE, "some of its LucidLink files are deleted")
    reasons = [reason for result, reason in results if result is best]
    return verdict(best, "; ".join(dict.fromkeys(reasons)))


def _compare(ll_files: list[Json], b2_set: Json, listed: list[Json]) -> tuple[Verdict, str]:
    """Compare one B2 file set (all the files listed for it) with the live LucidLink files."""
    if not _complete(b2_set, listed):
        return Verdict.PENDING, "B2 file list is incomplete"
    b2_files = _live(listed)
    if not b2_files:
        return Verdict.COPY_NEEDED, "the B2 copy has no files"
    statuses = {str(f.get("status")) for f in b2_files}
    if statuses - IN_PROGRESS - {"CLOSED"}:
        bad = ", ".join(sorted(statuses - IN_PROGRESS - {"CLOSED"}))
        return Verdict.COPY_NEEDED, f"the B2 copy failed (files {bad})"
    if statuses & IN_PROGRESS:
        return Verdict.PENDING, "the B2 copy is still being written"
    if len(b2_files) != len(ll_files):
        return (
            Verdict.MISMATCH,
            f"the B2 copy has {len(b2_files)} files, LucidLink has {len(ll_files)}",
        )
    problem = _match_one_for_one(ll_files, b2_files)
    if problem:
        return Verdict.MISMATCH, problem
    return Verdict.VERIFIED, ""


def _match_one_for_one(ll_files: list[Json], b2_files: list[Json]) -> str:
    """Pair every LucidLink file with a distinct B2 file of the same size and checksum.

    Files are paired by name where names agree, then by size and checksum. A pairing that
    succeeds proves the sets match; a failure can only keep a file on LucidLink.

    Returns:
        "" when every file pairs up, else the first difference in words.
    """
    unpaired = list(b2_files)
    ordered = sorted(ll_files, key=lambda f: str(f.get("name") or ""))
    for ll_file in ordered:
        size = ll_file.get("size")
        if not isinstance(size, int):
            return f"LucidLink file {_name(ll_file)} has no size"
        candidates = [b for b in unpaired if _same_content(ll_file, b)]
        if not candidates:
            return _difference(ll_file, unpaired)
        named = [b for b in candidates if _name(b) == _name(ll_file)]
        unpaired.remove((named or candidates)[0])
    return ""


def _same_content(ll_file: Json, b2_file: Json) -> bool:
    if b2_file.get("size") != ll_file.get("size") or not isinstance(b2_file.get("size"), int):
        return False
    a, b = ll_file.get("checksum"), b2_file.get("checksum")
    return not (a and b) or str(a).lower() == str(b).lower()


def _difference(ll_file: Json, b2_files: list[Json]) -> str:
    same_name = [b for b in b2_files if _name(b) == _name(ll_file)]
    if same_name and same_name[0].get("size") != ll_file.get("size"):
        return (
            f"B2 file {_name(ll_file)} is {same_name[0].get('size')} bytes, "
            f"LucidLink's is {ll_file.get('size')}"
        )
    if same_name:
        return f"B2 file {_name(ll_file)} has a different checksum"
    return f"no B2 file matches LucidLink file {_name(ll_file)} ({ll_file.get('size')} bytes)"


def _complete(file_set: Json, listed: list[Json]) -> bool:
    """False when fewer files are listed than iconik counts for the set: a cut-short listing.

    iconik does not say whether ``file_count`` includes deleted files, so only a listing
    *shorter* than the count (of every file listed, deleted ones included) is suspect.
    """
    count = file_set.get("file_count")
    return not isinstance(count, int) or len(listed) >= count


def _live(files: list[Json]) -> list[Json]:
    """The files that are content: a DELETED file in an ACTIVE file set is not."""
    return [f for f in files if f.get("status") != "DELETED"]


def _format_ids(formats: list[Json], names: tuple[str, ...]) -> dict[str, str]:
    wanted = set(names)
    return {
        str(f["id"]): str(f["name"])
        for f in formats
        if f.get("name") in wanted and f.get("id") and f.get("status", "ACTIVE") != "DELETED"
    }


def _on(file_set: Json, storage_id: str) -> bool:
    return str(file_set.get("storage_id", "")).lower() == storage_id.lower()


def _active(file_set: Json) -> bool:
    return file_set.get("status", "ACTIVE") == "ACTIVE"


def _name(file: Json) -> str:
    return str(file.get("name") or file.get("original_name") or file.get("id"))
