"""What ``b2-iconik-actions audit`` does with its report, only when asked: the CSV and two actions.

* ``--csv FILE``: one row per LucidLink file set;
* ``--copy-missing``: bulk copies to B2 of the "only on LucidLink" file sets;
* ``--free-safe``: an ordinary Remove, through the plugin's own URL, of the assets whose every
  LucidLink file set is "safe to free" (the Remove verifies each asset again).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from b2_iconik.audit.report import AuditClass, AuditReport
from b2_iconik.custom_actions.actions import SECRET_HEADER, operation_of, plugin_actions
from b2_iconik.custom_actions.errors import UsageError
from b2_iconik.iconik.client import BULK_LIMIT, IconikClient
from b2_iconik.iconik.session import Json

#: Most asset ids in one Remove request: its body stays well under the plugin's 1 MiB limit.
REMOVE_CHUNK = 20_000
#: The CSV's columns, in order.
CSV_COLUMNS = ("asset_id", "title", "format", "class", "bytes", "date", "reason", "file_set_id")


def write_csv(client: IconikClient, report: AuditReport, path: str, titles: bool) -> None:
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


def copy_missing(client: IconikClient, report: AuditReport, dry_run: bool) -> dict[str, Any]:
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


def free_safe(
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
