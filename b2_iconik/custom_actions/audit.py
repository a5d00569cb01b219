"""``b2-iconik-actions audit``: what is on LucidLink, and is it safe?

Reads both storages (:mod:`b2_iconik.audit`), prints a table (or ``--json``, one object whose
shape ``docs/audit-schema.json`` documents), writes ``--csv FILE`` (one row per LucidLink file
set), and, only when asked, acts through the paths the plugin already has:

* ``--copy-missing`` asks iconik for B2 copies of the "only on LucidLink" file sets: bulk copies
  of the asset's format to the B2 storage, ``overwrite`` false, never more than 500 assets a call.
* ``--free-safe`` starts an ordinary Remove on the assets whose every LucidLink file set is "safe
  to free": it POSTs to the plugin's own Remove URL, as iconik does when a user clicks the action,
  with the URL and the ``x-bz-secret`` header of the Remove action registered in iconik (by
  ``create``; ``--endpoint`` picks one when several deployments have actions). The Remove
  verifies each asset again when it deletes: the audit's reading is never trusted for a delete.

Both take ``--dry-run``. Without them the audit only reads. Every failure is one sentence on
stderr, never a traceback: 2 for a wrong argument or storage, 1 when iconik fails (with how far
the audit got), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from b2_iconik.audit.reading import run_audit
from b2_iconik.audit.report import AuditClass, AuditInterrupted, AuditReport, Progress, summary
from b2_iconik.base.errors import IconikError, IconikHTTPError, IconikUnavailable
from b2_iconik.custom_actions.actions import SECRET_HEADER, operation_of, plugin_actions
from b2_iconik.custom_actions.api import check_storages, read_environment
from b2_iconik.custom_actions.errors import UsageError
from b2_iconik.iconik.client import BULK_LIMIT, IconikClient
from b2_iconik.iconik.retry import retry_policy
from b2_iconik.iconik.session import Json

EXIT_OK, EXIT_ICONIK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Retries of each listing page: an audit runs for minutes, a 429 or 5xx on the way is expected.
AUDIT_RETRIES = 8
AUDIT_BACKOFF = 0.5
#: Most asset ids in one Remove request: its body stays well under the plugin's 1 MiB limit.
REMOVE_CHUNK = 20_000
#: The CSV's columns, in order.
CSV_COLUMNS = ("asset_id", "title", "format", "class", "bytes", "date", "reason", "file_set_id")


def add_parser(sub: Any) -> None:
    """Register ``audit`` on the tool's subcommands."""
    audit = sub.add_parser(
        "audit",
        help="classify every LucidLink file set: safe to free, pending, differs, at risk",
        description=(
            "Read the LucidLink and B2 storages' file listings (a few hundred calls, not a few "
            "per asset) and classify every LucidLink file set by Remove's own rule: safe to "
            "free, B2 copy pending, B2 copy differs, only on LucidLink, cannot tell. Reads only, "
            "unless --copy-missing or --free-safe is given."
        ),
    )
    audit.add_argument(
        "--b2-storage", metavar="ID", help="the B2 storage's iconik id (default: $B2_STORAGE_ID)"
    )
    audit.add_argument(
        "--ll-storage",
        metavar="ID",
        help="the LucidLink storage's iconik id (default: $LL_STORAGE_ID)",
    )
    audit.add_argument("--json", action="store_true", help="print one JSON object, no table")
    audit.add_argument("--csv", metavar="FILE", help="write one row per LucidLink file set")
    audit.add_argument(
        "--titles",
        action="store_true",
        help="fill the CSV's title column (one read per asset on LucidLink: slow on big storages)",
    )
    audit.add_argument(
        "--copy-missing",
        action="store_true",
        help="ask iconik for B2 copies of the 'only on LucidLink' file sets (never overwrites)",
    )
    audit.add_argument(
        "--free-safe",
        action="store_true",
        help="start one Remove on the assets whose LucidLink copies are all safe to free "
        "(it verifies each again before deleting)",
    )
    audit.add_argument(
        "--endpoint",
        metavar="URL",
        help="for --free-safe: the function whose registered Remove action to use "
        "(needed only when several deployments have actions)",
    )
    audit.add_argument(
        "--dry-run", action="store_true", help="with --copy-missing/--free-safe: say, do nothing"
    )
    audit.add_argument(
        "--no-progress", action="store_true", help="no progress bar, even on a terminal"
    )
    audit.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    """Run the audit and whatever action was asked; returns the exit status."""
    try:
        return _audit(args, out)
    except UsageError as error:
        _fail(str(error))
        return EXIT_USAGE
    except AuditInterrupted as stopped:
        if isinstance(stopped.cause, KeyboardInterrupt):
            _fail(f"interrupted; the audit stopped while {stopped.progress.describe()}")
            return EXIT_INTERRUPTED
        _fail(f"{_explain(stopped.cause)}; the audit stopped while {stopped.progress.describe()}")
        return EXIT_ICONIK
    except IconikError as error:
        _fail(_explain(error))
        return EXIT_ICONIK
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED


def _audit(args: argparse.Namespace, out: TextIO) -> int:
    env = read_environment(need_secret=False)
    b2_id = args.b2_storage or env.settings.b2_storage_id
    ll_id = args.ll_storage or env.settings.ll_storage_id
    if not (b2_id and ll_id):
        raise UsageError(
            "give both --b2-storage and --ll-storage (or B2_STORAGE_ID, LL_STORAGE_ID)"
        )
    if args.dry_run and not (args.copy_missing or args.free_safe):
        raise UsageError("--dry-run goes with --copy-missing or --free-safe")
    if args.titles and not args.csv:
        raise UsageError("--titles fills the CSV: give --csv FILE too")
    retry = retry_policy(total=AUDIT_RETRIES, backoff_factor=AUDIT_BACKOFF)
    with IconikClient(
        env.settings.iconik_url,
        env.settings.iconik_id,
        env.token,
        max_rps=env.settings.iconik_max_rps,
        retry=retry,
        copy_retry=retry,
    ) as client:
        names = _storage_names(client, b2_id, ll_id)
        bar = _Bar(sys.stderr) if _show_progress(args) else None
        try:
            report = run_audit(client, b2_id, ll_id, on_progress=bar.show if bar else None)
        finally:
            if bar:
                bar.close()
        document = summary(report)
        if args.csv:
            _write_csv(client, report, args.csv, args.titles)
        acted: dict[str, Any] = {}
        if args.copy_missing:
            acted["copy_missing"] = _copy_missing(client, report, args.dry_run)
        if args.free_safe:
            acted["free_safe"] = _free_safe(client, env.token, report, args)
    if acted:
        document["actions"] = acted
    if args.json:
        print(json.dumps(document, indent=2), file=out)
    else:
        print(render(document, names), file=out)
        for line in _action_lines(acted):
            print(line, file=out)
        if args.csv:
            print(f"wrote {args.csv}", file=out)
    return EXIT_OK


def _storage_names(client: IconikClient, b2_id: str, ll_id: str) -> dict[str, str]:
    """Check the ids name two storages iconik knows (UsageError if not); their names."""
    lines = check_storages(client, b2_id, ll_id)
    names = {}
    for side, line in zip(("b2", "lucidlink"), lines, strict=False):
        names[side] = line.split(": ", 1)[1]
    return names


def _show_progress(args: argparse.Namespace) -> bool:
    return not args.no_progress and sys.stderr.isatty()


class _Bar:
    """A one-line progress bar on a terminal (stderr), redrawn in place."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def show(self, progress: Progress) -> None:
        side = "b2" if progress.stage.startswith("listing the B2") else "lucidlink"
        done, total = progress.files[side], progress.totals[side]
        if total and progress.stage.startswith("listing"):
            filled = int(self.WIDTH * min(done, total) / total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            text = f"{progress.stage}: [{bar}] {done:,}/{total:,} files"
        else:
            text = progress.describe()
        self.stream.write("\r\x1b[2K" + text[:160])
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r\x1b[2K")
        self.stream.flush()


# -- the table -----------------------------------------------------------------------------------


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


def _action_lines(acted: dict[str, Any]) -> list[str]:
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


# -- the CSV -------------------------------------------------------------------------------------


def _write_csv(client: IconikClient, report: AuditReport, path: str, titles: bool) -> None:
    title_of: dict[str, str] = {}
    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for r in report.results:
                if titles and r.asset_id not in title_of:
                    asset = client.get_asset(r.asset_id) or {}
                    title_of[r.asset_id] = str(asset.get("title") or "")
                writer.writerow(
                    (
                        r.asset_id,
                        title_of.get(r.asset_id, ""),
                        r.format_name or r.format_id,
                        r.audit_class.value,
                        r.bytes,
                        r.date,
                        r.reason,
                        r.file_set_id,
                    )
                )
    except OSError as error:
        raise UsageError(f"--csv {path}: cannot write it ({error.strerror})") from None


# -- acting --------------------------------------------------------------------------------------


def _copy_missing(client: IconikClient, report: AuditReport, dry_run: bool) -> dict[str, Any]:
    """Bulk copies to B2 of the formats of the 'only on LucidLink' sets, by format name."""
    results = report.totals[AuditClass.ONLY_ON_LUCIDLINK].results
    by_format: dict[str, list[str]] = {}
    problems: list[str] = []
    names: dict[str, dict[str, str]] = {}
    for r in results:
        name = r.format_name
        if name is None:  # the listing names formats by id: the asset's formats say which
            if r.asset_id not in names:
                formats = client.asset_formats(r.asset_id)
                names[r.asset_id] = {str(f.get("id")): str(f.get("name")) for f in formats}
            name = names[r.asset_id].get(r.format_id)
        if name is None:
            problems.append(f"asset {r.asset_id}: format {r.format_id} no longer exists")
            continue
        assets = by_format.setdefault(name, [])
        if r.asset_id not in assets:
            assets.append(r.asset_id)
    job_ids: list[str] = []
    requests_made = 0
    for name, assets in by_format.items():
        for start in range(0, len(assets), BULK_LIMIT):
            chunk = assets[start : start + BULK_LIMIT]
            requests_made += 1
            if not dry_run:
                job_ids.append(
                    client.bulk_copy(
                        report.b2_storage_id,
                        chunk,
                        name,
                        source_id=report.ll_storage_id,
                        overwrite=False,
                    )
                )
    return {
        "dry_run": dry_run,
        "assets": len({r.asset_id for r in results}),
        "file_sets": len(results) - len(problems),
        "formats": {name: len(assets) for name, assets in by_format.items()},
        "requests": requests_made,
        "job_ids": job_ids,
        "problems": problems,
    }


def _free_safe(
    client: IconikClient, token: str, report: AuditReport, args: argparse.Namespace
) -> dict[str, Any]:
    """One ordinary Remove (per 20,000 assets) on the assets that are all safe to free."""
    classes: dict[str, set[AuditClass]] = {}
    for r in report.results:
        classes.setdefault(r.asset_id, set()).add(r.audit_class)
    safe = [
        a
        for a in report.assets_of(AuditClass.SAFE_TO_FREE)
        if classes[a] == {AuditClass.SAFE_TO_FREE}
    ]
    partly = len(report.assets_of(AuditClass.SAFE_TO_FREE)) - len(safe)
    action, url, secret = _remove_action(client, report, args.endpoint)
    done: dict[str, Any] = {
        "dry_run": args.dry_run,
        "assets": len(safe),
        "partly_safe_assets": partly,
        "url": url.split("?")[0],
        "job_ids": [],
    }
    if args.dry_run or not safe:
        return done
    for start in range(0, len(safe), REMOVE_CHUNK):
        body = {
            "context": "BULK",
            "asset_ids": safe[start : start + REMOVE_CHUNK],
            "collection_ids": [],
            "saved_search_ids": [],
            "action_id": action.get("id"),
            "metadata_view_id": None,
            "metadata_values": None,
            "date_created": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "auth_token": token,
        }
        try:
            answer = requests.post(
                url,
                data=json.dumps(body),
                headers={SECRET_HEADER: secret, "Content-Type": "application/json"},
                timeout=(5, 30),
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise UsageError(
                f"the plugin at {done['url']} did not answer ({type(error).__name__}); "
                "nothing was removed"
            ) from None
        if answer.status_code != 200:
            raise UsageError(
                f"the plugin at {done['url']} answered {answer.status_code} "
                f"({_plugin_error(answer)}); nothing more was started"
            )
        done["job_ids"].append(str((answer.json() or {}).get("job_id") or ""))
    return done


def _remove_action(
    client: IconikClient, report: AuditReport, endpoint: str | None
) -> tuple[Json, str, str]:
    """The registered Remove action to post through: it, its URL for these storages, secret."""
    ours = [
        a
        for a in plugin_actions(client.list_custom_actions(), endpoint)
        if operation_of(a.get("url"), endpoint) == "remove"
    ]
    if not ours:
        where = f" for {endpoint}" if endpoint else ""
        raise UsageError(
            f"no Remove action is registered in iconik{where}: run 'b2-iconik-actions create' "
            "first (--free-safe posts through it)"
        )
    bases = {str(a["url"]).split("?")[0] for a in ours}
    if len(bases) > 1:
        raise UsageError(
            "Remove actions of several deployments are registered: say which with --endpoint"
        )
    action = next((a for a in ours if a.get("context") == "BULK"), ours[0])
    parts = urlsplit(str(action["url"]))
    query = dict(parse_qsl(parts.query))
    for key, wanted in (
        ("b2_storage_id", report.b2_storage_id),
        ("ll_storage_id", report.ll_storage_id),
    ):
        if query.get(key) and query[key].lower() != wanted.lower():
            raise UsageError(
                f"the registered Remove action works on {key} {query[key]}, not {wanted}: "
                "audit those storages, or register actions for these"
            )
        query[key] = wanted
    url = urlunsplit(parts._replace(query=urlencode(query, safe=",")))
    headers = action.get("headers") or {}
    secret = next((v for k, v in headers.items() if k.lower() == SECRET_HEADER), None)
    secret = secret or os.environ.get("BZ_SHARED_SECRET", "").strip()
    if not secret:
        raise UsageError(
            f"the Remove action carries no {SECRET_HEADER} header and BZ_SHARED_SECRET is not "
            "set: the plugin would refuse the request"
        )
    return action, url, str(secret)


def _plugin_error(answer: requests.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.reason or "no message"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)
    return str(body)


# -- errors --------------------------------------------------------------------------------------


def _explain(error: BaseException) -> str:
    """iconik's failure in words an operator can act on."""
    if isinstance(error, IconikHTTPError):
        if error.status == 401:
            return "iconik refused the token (401): check ICONIK_ID and ICONIK_TOKEN"
        if error.status == 403:
            return (
                f"iconik denied {error.method} {error.path} (403): the application token's user "
                "needs the roles can_list_storage_files and can_read_files (and, to act, "
                "can_write_transfers)"
            )
        if error.status == 404 and "/storages/" in error.path:
            return f"iconik has no storage at {error.path} (404)"
        if error.status == 429 or error.status >= 500:
            return f"iconik kept failing ({error.status}) after {AUDIT_RETRIES} retries"
        return f"iconik failed: {error}"
    if isinstance(error, IconikUnavailable):
        url = os.environ.get("ICONIK_URL") or "https://app.iconik.io"
        return f"iconik at {url} could not be reached ({error})"
    return str(error)


def _fail(message: str) -> None:
    from b2_iconik.custom_actions.cli import _fail as fail

    fail(message)
