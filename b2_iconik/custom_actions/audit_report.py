"""``b2-iconik-actions audit``'s table: the audit's summary and what was done, in words.

The JSON document (``--json``) is :func:`b2_iconik.audit.report.summary`; this prints the same
facts for a person, with the storages' names.
"""

from __future__ import annotations

from typing import Any

from b2_iconik.audit.report import AuditClass
from b2_iconik.iconik.session import Json


def render(document: Json, names: dict[str, str] | None = None) -> str:
    """The audit as a table for a terminal."""
    names = names or {}
    storages = document["storages"]
    lines = [
        f"LucidLink storage: {names.get('lucidlink', storages['lucidlink'])}",
        f"B2 storage:        {names.get('b2', storages['b2'])}",
        "",
        f"{'class':<20} {'assets':>10} {'file sets':>10} {'bytes':>18} {'':>10}",
    ]
    total = {"assets": 0, "file_sets": 0, "bytes": 0}
    for audit_class in AuditClass:
        row = document[audit_class.value]
        for key in total:
            total[key] += row[key]
        lines.append(
            f"{audit_class.label:<20} {row['assets']:>10,} {row['file_sets']:>10,} "
            f"{row['bytes']:>18,} {_human(row['bytes']):>10}"
        )
    lines.append(
        f"{'all (sets)':<20} {'':>10} {total['file_sets']:>10,} {total['bytes']:>18,} "
        f"{_human(total['bytes']):>10}"
    )
    oldest = [(c, document[c.value]["oldest"]) for c in AuditClass if document[c.value]["oldest"]]
    if oldest:
        lines += ["", "Oldest file sets:"]
        for audit_class, sets in oldest:
            for item in sets[:3]:
                lines.append(
                    f"  {audit_class.label:<18} {item['date'][:10]}  asset {item['asset_id']}"
                    f"  file set {item['file_set_id']}"
                )
    if document["reasons"]:
        lines += ["", "Why not safe to free (file sets):"]
        for reason, count in list(document["reasons"].items())[:10]:
            lines.append(f"  {count:>8,}  {reason}")
    listed = document["listed"]
    lines += [
        "",
        f"Read {listed['lucidlink_files']:,} LucidLink and {listed['b2_files']:,} B2 files in "
        f"{listed['pages']:,} pages; {listed['assets_reread']:,} assets re-read one by one; "
        f"{document['deleted_while_reading']:,} file sets deleted while reading.",
        "Top collections: not shown (storage listings do not say which collections an asset "
        "is in; that costs a read per asset).",
    ]
    return "\n".join(lines)


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} PB"  # pragma: no cover


def action_lines(acted: dict[str, Any]) -> list[str]:
    lines = []
    copy = acted.get("copy_missing")
    if copy:
        verb = "would ask" if copy["dry_run"] else "asked"
        lines.append(
            f"\n--copy-missing: {verb} iconik for B2 copies of {copy['file_sets']:,} file sets "
            f"of {copy['assets']:,} assets ({copy['requests']:,} bulk copies, overwrite off)"
        )
        for problem in copy["problems"]:
            lines.append(f"  not asked: {problem}")
    free = acted.get("free_safe")
    if free:
        if free["dry_run"]:
            lines.append(
                f"\n--free-safe: would start Remove on {free['assets']:,} assets "
                f"(through {free['url']})"
            )
        else:
            jobs = ", ".join(free["job_ids"]) or "none"
            lines.append(
                f"\n--free-safe: started Remove on {free['assets']:,} assets (iconik job "
                f"{jobs}); it verifies each B2 copy again before it deletes"
            )
        if free["partly_safe_assets"]:
            lines.append(
                f"  left out {free['partly_safe_assets']:,} assets with other LucidLink file "
                "sets not safe to free"
            )
    return lines
