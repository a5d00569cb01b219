"""The Cloud Function: deployed when absent or changed, skipped when already right.

A digest of what a deploy makes (flags, account, environment, source files) is kept as a label on
the function; a run whose digest matches has nothing to deploy, so a second ``make deploy`` is
quick and changes nothing, and an upgrade (``git pull``) deploys again by itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from deploy.gcloud import Gcloud
from deploy.report import Report
from deploy.settings import (
    FINGERPRINT_LABEL,
    FUNCTION_FLAGS,
    ROOT,
    Target,
)

#: What the function is built from; every file gcloud uploads is under one of these.
SOURCE = ("main.py", "requirements.txt", ".gcloudignore", "b2_iconik")


# -- the function ---------------------------------------------------------------------------------


def source_files(root: Path = ROOT) -> list[Path]:
    """Every file the function is built from (a superset of what gcloud uploads)."""
    files: list[Path] = []
    for name in SOURCE:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            )
    return files


def fingerprint(t: Target, env: dict[str, str], root: Path = ROOT) -> str:
    """A digest of what a deploy would make: flags, account, environment and source.

    Kept as a label on the function, so a run whose digest matches skips the deploy (minutes of
    building) and a changed file, setting or flag makes the next run deploy again.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([FUNCTION_FLAGS, t.account_email, sorted(env.items())]).encode())
    for path in source_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


@contextmanager
def env_file(env: dict[str, str]) -> Iterator[Path]:
    """The function's environment in a temporary YAML file readable by the owner only.

    Deleted on leaving, whatever happened: it names the queue and the iconik application.
    """
    fd, name = tempfile.mkstemp(prefix="b2-iconik-env-", suffix=".yaml")
    try:
        os.chmod(name, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            yaml.safe_dump(env, stream, default_flow_style=False, sort_keys=True)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def describe_function(g: Gcloud, t: Target, assume: str) -> dict[str, Any] | None:
    """The function as `gcloud functions describe` shows it, or None when absent (or dry run)."""
    found = g.check(
        ["functions", "describe", t.function, "--gen2", f"--region={t.region}", "--format=json"],
        doing=f"look up the function {t.function}",
        assume=assume,
    )
    if found is None or not found.ok:
        return None
    described: dict[str, Any] = found.json() or {}
    return described


def _deploy(g: Gcloud, t: Target, env: dict[str, str], digest: str) -> None:
    """Run `gcloud functions deploy` once, with the environment in a temporary file."""
    args = [
        "functions",
        "deploy",
        t.function,
        f"--region={t.region}",
        *FUNCTION_FLAGS,
        f"--service-account={t.account_email}",
        f"--update-labels={FINGERPRINT_LABEL}={digest}",
    ]
    if g.dry_run:
        g.show("would run", g.command([*args, "--env-vars-file=ENV_FILE"]))
        shown = ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
        print(f"{'':11}# ENV_FILE: a temporary 0600 file holding {shown}", file=g.out)
        return
    with env_file(env) as path:
        g.change([*args, f"--env-vars-file={path}"], doing=f"deploy the function {t.function}")


def deploy_function(g: Gcloud, t: Target, report: Report, force: bool) -> str:
    """Deploy the function when absent, changed, or forced; returns its URL.

    The URL is known before the first deploy (``https://REGION-PROJECT.cloudfunctions.net/NAME``)
    so one deploy sets TASKS_URL right. Should the function report another URL afterwards, it is
    deployed once more with that one.
    """
    current = describe_function(g, t, assume="absent")
    url = str((current or {}).get("url") or t.predicted_url)
    env = t.function_env(url)
    digest = fingerprint(t, env)
    labels = (current or {}).get("labels") or {}
    same = labels.get(FINGERPRINT_LABEL) == digest
    if current and current.get("state") == "ACTIVE" and same and not force:
        report.add(f"function {t.function}", "unchanged", url)
        return url
    g.out.flush()
    _deploy(g, t, env, digest)
    outcome = "updated" if current else "created"
    if g.dry_run:
        report.add(f"function {t.function}", outcome, url)
        return url
    deployed = describe_function(g, t, assume="present") or {}
    actual = str(deployed.get("url") or url)
    if actual != url:
        env = t.function_env(actual)
        _deploy(g, t, env, fingerprint(t, env))
        report.add(f"function {t.function}", outcome, f"{actual}; deployed twice to learn its URL")
        return actual
    report.add(f"function {t.function}", outcome, url)
    return url
