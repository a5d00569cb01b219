"""What the tool prints: one line per change, the table of ``list``, the summary, error lines.

Everything printed goes through here, so this is the one place that makes output safe: the
secret header's value is always shown as ``****`` and secret-looking query values are masked.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from b2_iconik.custom_actions.actions import SECRET_HEADER, Json
from b2_iconik.custom_actions.plan import Change, ChangeKind

#: Shorter values are not masked inside error messages: they would garble the words.
MIN_MASKED = 6
#: How a secret is shown in any output.
MASK = "****"
#: The id a dry run shows for an object it would create (iconik would choose the real one).
PREVIEW_ID = "<new-id>"

VERBS: dict[ChangeKind, tuple[str, str]] = {
    "create": ("would create", "created"),
    "update": ("would update", "updated"),
    "delete": ("would delete", "deleted"),
    "unchanged": ("unchanged", "unchanged"),
}


def display_url(url: str) -> str:
    """A URL safe to print: values of query parameters that look like secrets are masked."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = [
        (k, MASK if any(w in k.lower() for w in ("secret", "token", "key")) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(pairs, safe=",")))


def masked(body: Any) -> Any:
    """A request body safe to print: the secret header's value masked, URLs shown safe."""
    if isinstance(body, dict):
        return {
            k: MASK
            if k.lower() == SECRET_HEADER
            else display_url(v)
            if k == "url" and isinstance(v, str)
            else masked(v)
            for k, v in body.items()
        }
    if isinstance(body, list):
        return [masked(item) for item in body]
    return body


def request_line(method: str, path: str, body: Any) -> str:
    """One request a dry run would send: method, path and body, the secret masked."""
    line = f"would send {method} {path}"
    if body is not None:
        line += " " + json.dumps(masked(body), ensure_ascii=False, sort_keys=True)
    return line


def describe(change: Change, dry_run: bool) -> str:
    """One line for a change, safe to print: the secret header's value is masked."""
    verb = VERBS[change.kind][0 if dry_run else 1]
    action = change.action
    line = (
        f"{verb:<13} {change.context:<12} {action.get('title', '')!s:<60} "
        f"{action.get('type') or 'POST'} {display_url(str(action.get('url', '')))}"
    )
    if change.kind in ("create", "update"):
        line += f"  {SECRET_HEADER}: {MASK}"
    if change.fields:
        line += f"  (changes: {', '.join(change.fields)})"
    return line


def summary(changes: Sequence[Change], done: int) -> str:
    """The closing line of a real run, counting each kind of change.

    ``make deploy`` reads this line to report what happened to the actions, so its wording is
    part of the tool's output contract.
    """
    counts = {k: sum(1 for c in changes if c.kind == k) for k in VERBS}
    return (
        f"{done} change(s): {counts['create']} created, {counts['update']} updated, "
        f"{counts['delete']} deleted, {counts['unchanged']} unchanged"
    )


def _row(action: Json) -> tuple[str, str, str, str, str]:
    """One action's cells: context, status, title, URL (no secret), last error on one line."""
    status = str(action.get("status") or "-")
    if action.get("disabled"):
        status += " (disabled)"
    error = str(action.get("last_error") or "")
    if error and action.get("last_error_date"):
        error += f" (at {action['last_error_date']})"
    return (
        str(action.get("context", "")),
        status,
        str(action.get("title", "")),
        display_url(str(action.get("url", ""))),
        " ".join(error.split()) or "-",
    )


def render_table(actions: Sequence[Json]) -> str:
    """The plugin's actions as a table: context, status, title, URL, last error.

    The URL is shown without any secret; headers are never shown. A disabled action says so
    in its status.
    """
    header = ("CONTEXT", "STATUS", "TITLE", "URL", "LAST ERROR")
    return table(header, [_row(action) for action in actions])


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, the last one left ragged."""
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True))
        + "  "
        + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def fail(message: str) -> None:
    """Print one error line on stderr, with any secret from the environment masked."""
    for name in ("BZ_SHARED_SECRET", "ICONIK_TOKEN"):
        value = os.environ.get(name, "").strip()
        if len(value) >= MIN_MASKED:
            message = message.replace(value, MASK)
    print(f"b2-iconik-actions: error: {' '.join(message.split())}", file=sys.stderr)
