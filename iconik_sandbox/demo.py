"""``make demo``: the plugin's main job end to end, against the built-in iconik sandbox.

It starts the sandbox, starts the plugin as a real server (functions-framework, as Cloud
Functions runs it), seeds a small catalogue (nested collections, an asset whose B2 copy is
missing, one whose B2 copy has the wrong size), then clicks "Add to LucidLink" and "Remove from
LucidLink" on the top collection exactly as iconik would. Between the two, a policy does the
work nobody should have to remember: ``b2-iconik-actions policy create`` registers "remove when
approved", and iconik's Automation engine (the sandbox's) runs the plugin's Remove when a reviewer
approves an asset, the plugin acting with its own application token. It tells what
happened: the iconik jobs' progress and outcome, and what is on each storage before and after.
It exits 0 only when the story is the one the safety rule promises.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from b2_iconik.custom_actions import main as actions_cli
from iconik_sandbox import Catalogue, Sandbox, SeedResult

SECRET = "demo-shared-secret"
APP_TOKEN = "demo-application-token"
POLICY = "remove-when-approved"
FORMATS = "ORIGINAL,PPRO_PROXY"
TERMINAL = {"FINISHED", "FAILED", "FINISHED_WITH_WARNING", "ABORTED", "SKIPPED"}
ROOT = Path(__file__).resolve().parent.parent

CATALOGUE = Catalogue(
    assets=8, collections_depth=2, collections_per_level=2, on_b2=1.0, on_ll=0.0,
    duplicates=1, b2_missing=1, b2_wrong_size=1, b2_bad_status=0, saved_searches=0, seed=11,
)


def say(text: str = "") -> None:
    print(text, flush=True)


def start_plugin(sandbox: Sandbox, log_file: Any) -> tuple[subprocess.Popen[bytes], str]:
    """The plugin under functions-framework on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "ICONIK_ID": sandbox.app_id, "ICONIK_URL": sandbox.url, "BZ_SHARED_SECRET": SECRET,
        "FORMAT_NAMES": FORMATS, "REMOVE_WAIT_SECONDS": "20", "REMOVE_RECHECK_SECONDS": "0.5",
        "ICONIK_TOKEN": APP_TOKEN, "GATHER_SECONDS": "2", "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "functions_framework", "--target", "iconik_handler",
         "--source", str(ROOT / "main.py"), "--host", "127.0.0.1", "--port", str(port)],
        cwd=tempfile.gettempdir(), env=env, stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            requests.get(url + "/ready", timeout=1)
            return process, url
        except requests.ConnectionError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the plugin server did not start")


def storage_table(sandbox: Sandbox, ids: SeedResult) -> None:
    """One line per asset: what each storage holds of each format."""
    state = sandbox.state
    say(f"  {'asset':<14} {'B2':<44} LucidLink")
    for asset_id in ids.asset_ids:
        title = state.asset(asset_id)["title"]
        cells = [_cell(sandbox, asset_id, s) for s in (ids.b2_storage_id, ids.ll_storage_id)]
        say(f"  {title:<14} {cells[0]:<44} {cells[1]}")


def _cell(sandbox: Sandbox, asset_id: str, storage_id: str) -> str:
    parts = []
    for name in FORMATS.split(","):
        sets = sandbox.state.file_sets_of(asset_id, storage_id=storage_id, format_name=name)
        if sets:
            files = sandbox.state.files_of(file_set_id=sets[0]["id"])
            size = sum(f["size"] for f in files)
            odd = sorted({f["status"] for f in files} - {"CLOSED"})
            flag = f" {'/'.join(odd)}" if odd else ""
            parts.append(f"{name.split('_')[0].lower()} {size / 1e6:,.1f} MB{flag}")
    return ", ".join(parts) or "-"


def click(url: str, operation: str, ids: SeedResult, token: str) -> str:
    """POST what iconik POSTs when a user runs the action on the top collection."""
    body = {
        "user_id": "0c0c0c0c-0000-4000-8000-000000000000",
        "system_domain_id": "0d0d0d0d-0000-4000-8000-000000000000",
        "context": "COLLECTION", "action_id": "0a0a0a0a-0000-4000-8000-000000000000",
        "asset_ids": [], "collection_ids": [ids.root_collection_id], "saved_search_ids": [],
        "metadata_view_id": None, "metadata_values": None,
        "date_created": "2026-11-24T10:00:00.000000", "auth_token": token,
    }
    target = (f"{url}/{operation}?b2_storage_id={ids.b2_storage_id}"
              f"&ll_storage_id={ids.ll_storage_id}&formats={FORMATS}")
    started = time.monotonic()
    answer = requests.post(target, data=json.dumps(body), timeout=10, headers={
        "x-bz-secret": SECRET, "Content-Type": "application/json"})
    elapsed = time.monotonic() - started
    say(f"  POST …/{operation} → {answer.status_code} in {elapsed * 1000:.0f} ms: {answer.json()}")
    if answer.status_code != 200:
        raise SystemExit(f"the plugin refused the {operation} action")
    return str(answer.json()["job_id"])


def follow(sandbox: Sandbox, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """Print the iconik job's progress as it moves, until it ends."""
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = sandbox.state.job(job_id)
        line = (f"    [{job['status']:<8}] {job.get('progress_processed') or 0}"
                f"/{job.get('progress_total') or 0}  {job.get('message') or ''}")
        if line != last:
            say(line if job["status"] not in TERMINAL else line[:160])
            last = line
        if job["status"] in TERMINAL:
            return dict(job)
        time.sleep(0.1)
    raise SystemExit(f"job {job_id} did not end in {timeout:.0f} s")


def policy(
    sandbox: Sandbox, url: str, ids: SeedResult, approved: str, title: str
) -> dict[str, Any]:
    """Step 2: a policy registered in iconik; a reviewer approves one asset."""
    say("\n2. A policy: iconik's Automation engine runs 'Remove from LucidLink' on approval.")
    sandbox.add_token(sandbox.app_id, APP_TOKEN)
    sandbox.set_delivery_shape(token="none", context="ASSET")  # the plugin acts as itself
    os.environ.update(ICONIK_URL=sandbox.url, ICONIK_ID=sandbox.app_id,
                      ICONIK_TOKEN=sandbox.token, BZ_SHARED_SECRET=SECRET)
    say(f"  $ b2-iconik-actions create {url} --b2-storage … --ll-storage … --formats {FORMATS}")
    listing = io.StringIO()
    with contextlib.redirect_stdout(listing):  # one line per action: only the summary here
        actions_cli(["create", url, "--b2-storage", ids.b2_storage_id,
                     "--ll-storage", ids.ll_storage_id, "--formats", FORMATS])
    say("  " + listing.getvalue().strip().splitlines()[-1])
    say(f"  $ b2-iconik-actions policy create {url} {POLICY} --activate")
    actions_cli(["policy", "create", url, POLICY, "--activate"])
    say(f"  A reviewer approves '{title}'.")
    sandbox.set_approval(approved, "APPROVED")
    [delivery] = sandbox.wait_for_deliveries(timeout=30)
    say(f"  iconik's automation called the plugin (no auth_token: it acts with its own token)"
        f" → {delivery['status']}, job {delivery.get('job_id')}")
    job = follow(sandbox, str(delivery["job_id"]))
    say(f"  iconik job '{job['title']}': {job['status']}")
    storage_table(sandbox, ids)
    return job


def policy_removed(sandbox: Sandbox, ids: SeedResult, asset_id: str) -> bool:
    """Gone from LucidLink, every format still on B2."""
    state = sandbox.state
    return not state.file_sets_of(asset_id, storage_id=ids.ll_storage_id) and all(
        state.file_sets_of(asset_id, storage_id=ids.b2_storage_id, format_name=name)
        for name in FORMATS.split(","))


def story(sandbox: Sandbox, url: str) -> bool:
    ids = sandbox.seed(CATALOGUE)
    names = {a: sandbox.state.asset(a)["title"] for a in ids.asset_ids}
    say("The catalogue (collections nested two deep; storages 'B2 masters' and 'LucidLink'):")
    storage_table(sandbox, ids)
    say(f"  {names[ids.b2_missing[0]]}: iconik marks its B2 original MISSING.")
    say(f"  {names[ids.b2_wrong_size[0]]}: its B2 original is one byte longer than on LucidLink.")

    say("\n1. A user runs 'Add to LucidLink' on the top collection.")
    add_job = follow(sandbox, click(url, "add", ids, sandbox.token))
    say(f"  iconik job '{add_job['title']}': {add_job['status']}")
    storage_table(sandbox, ids)

    approved = next(a for a in ids.asset_ids if a not in ids.b2_wrong_size + ids.b2_missing)
    policy_job = policy(sandbox, url, ids, approved, names[approved])

    say("\n3. A user runs 'Remove from LucidLink' on the same collection.")
    remove_job = follow(sandbox, click(url, "remove", ids, sandbox.token))
    say(f"  iconik job '{remove_job['title']}': {remove_job['status']}")
    say(f"  message: {remove_job.get('message')}")
    storage_table(sandbox, ids)

    kept = ids.b2_wrong_size[0]
    ll = ids.ll_storage_id
    checks = {
        "Add finished": add_job["status"] == "FINISHED",
        "the policy removed the approved asset, its B2 copy verified": (
            policy_job["status"] == "FINISHED"
            and f"automation: {POLICY}" in policy_job["title"]
            and policy_removed(sandbox, ids, approved)),
        "the wrong-size asset stayed on LucidLink": bool(
            sandbox.state.file_sets_of(kept, storage_id=ll)),
        "Remove reported it": remove_job["status"] == "FAILED" and kept in remove_job["message"],
        "the missing B2 copy was made, then LucidLink's removed": not sandbox.state.file_sets_of(
            ids.b2_missing[0], storage_id=ll) and bool(sandbox.state.file_sets_of(
                ids.b2_missing[0], storage_id=ids.b2_storage_id)),
        "every other asset left LucidLink": all(
            not sandbox.state.file_sets_of(a, storage_id=ll) for a in ids.asset_ids if a != kept),
        "every request matched iconik's spec": not sandbox.spec_violations,
    }
    say("\nWhat the safety rule promised:")
    for text, ok in checks.items():
        say(f"  {'ok ' if ok else 'NO '} {text}")
    calls = len(sandbox.requests)
    say(f"\n{calls} calls to iconik in all; the plugin's JSON log lines are in the log file.")
    return all(checks.values())


def main() -> int:
    with Sandbox(per_page_cap=5, copy_seconds=0.5) as sandbox, \
            tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        say(f"iconik sandbox at {sandbox.url}")
        process, url = start_plugin(sandbox, log)
        say(f"plugin (functions-framework, target iconik_handler) at {url}; log: {log.name}\n")
        try:
            ok = story(sandbox, url)
        finally:
            process.terminate()
            process.wait(timeout=10)
    say("\ndemo: " + ("everything went as promised" if ok else "SOMETHING WENT WRONG"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
