"""What the audit finds: the classes of LucidLink file sets, the running totals and the report.

Plain values: :mod:`.reading` and :mod:`.judging` fill them, the ``audit`` command prints them
(:mod:`b2_iconik.custom_actions.audit`), and :func:`summary` is the JSON document it writes.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple, Protocol

from b2_iconik.iconik.session import Json


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
