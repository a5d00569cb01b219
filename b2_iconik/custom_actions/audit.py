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
import json
import os
import sys
from typing import Any, TextIO

from b2_iconik.audit.reading import run_audit
from b2_iconik.audit.report import AuditInterrupted, Progress, summary
from b2_iconik.base.errors import IconikError, IconikHTTPError, IconikUnavailable
from b2_iconik.custom_actions.api import check_storages, read_environment
from b2_iconik.custom_actions.audit_acts import copy_missing, free_safe, write_csv
from b2_iconik.custom_actions.audit_report import action_lines, render
from b2_iconik.custom_actions.errors import UsageError
from b2_iconik.custom_actions.render import fail
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.retry import retry_policy

EXIT_OK, EXIT_ICONIK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Retries of each listing page: an audit runs for minutes, a 429 or 5xx on the way is expected.
AUDIT_RETRIES = 8
AUDIT_BACKOFF = 0.5


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
        fail(str(error))
        return EXIT_USAGE
    except AuditInterrupted as stopped:
        if isinstance(stopped.cause, KeyboardInterrupt):
            fail(f"interrupted; the audit stopped while {stopped.progress.describe()}")
            return EXIT_INTERRUPTED
        fail(f"{_explain(stopped.cause)}; the audit stopped while {stopped.progress.describe()}")
        return EXIT_ICONIK
    except IconikError as error:
        fail(_explain(error))
        return EXIT_ICONIK
    except KeyboardInterrupt:
        fail("interrupted")
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
            write_csv(client, report, args.csv, args.titles)
        acted: dict[str, Any] = {}
        if args.copy_missing:
            acted["copy_missing"] = copy_missing(client, report, args.dry_run)
        if args.free_safe:
            acted["free_safe"] = free_safe(client, env.token, report, args)
    if acted:
        document["actions"] = acted
    if args.json:
        print(json.dumps(document, indent=2), file=out)
    else:
        print(render(document, names), file=out)
        for line in action_lines(acted):
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
