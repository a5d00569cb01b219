"""The shared secret in Secret Manager: made once, read for iconik, rotated only when asked.

Its value is random, goes to gcloud on stdin only (``--data-file=-``), and is never printed or put
on a command line. The function's account may read this one secret and nothing else.
"""

from __future__ import annotations

import secrets

from deploy.gcloud import DeployError, Gcloud
from deploy.report import Report
from deploy.resources import ensure_binding
from deploy.settings import (
    SECRET_BYTES,
    SECRET_NAME,
    SECRET_ROLE,
    Target,
)

# -- the shared secret ----------------------------------------------------------------------------


def new_secret() -> str:
    """A new shared secret: random bytes as hex, for iconik's header and the function."""
    return secrets.token_hex(SECRET_BYTES)


def ensure_secret(g: Gcloud, report: Report, rotate: bool) -> list[str]:
    """Create the shared secret when absent; with rotate, add a new version to an existing one.

    The value goes to gcloud on stdin only, and is never printed.

    Returns:
        The versions that were enabled before a rotation (to disable once iconik has the new
        value), else an empty list.
    """
    found = g.check(
        ["secrets", "describe", SECRET_NAME, "--format=json"],
        doing=f"look up the secret {SECRET_NAME}",
        assume="present" if rotate else "absent",
    )
    exists = found.ok if found is not None else rotate
    note = f"{SECRET_BYTES} random bytes as hex, never printed"
    if not exists:
        g.change(
            ["secrets", "create", SECRET_NAME, "--replication-policy=automatic", "--data-file=-"],
            doing=f"create the secret {SECRET_NAME}",
            stdin=new_secret(),
            stdin_note=note,
        )
        report.add(f"secret {SECRET_NAME}", "created")
        return []
    if not rotate:
        report.add(f"secret {SECRET_NAME}", "unchanged", "kept: --rotate-secret replaces it")
        return []
    old = enabled_versions(g)
    g.change(
        ["secrets", "versions", "add", SECRET_NAME, "--data-file=-"],
        doing=f"add a version to the secret {SECRET_NAME}",
        stdin=new_secret(),
        stdin_note=note,
    )
    report.add(f"secret {SECRET_NAME}", "rotated", "new version added")
    return old


def enabled_versions(g: Gcloud) -> list[str]:
    """The secret's enabled versions (numbers), before a rotation adds one."""
    listed = g.check(
        ["secrets", "versions", "list", SECRET_NAME, "--format=json"],
        doing=f"list the versions of the secret {SECRET_NAME}",
        assume="its enabled versions are OLD",
    )
    if listed is None:
        return ["OLD"]
    return [
        str(v.get("name", "")).rsplit("/", 1)[-1]
        for v in listed.json() or []
        if v.get("state") == "ENABLED"
    ]


def read_secret(g: Gcloud) -> str:
    """The secret's latest value (for registering the actions); never printed.

    Surrounding whitespace is dropped, as the function drops it (a secret made by hand with
    ``openssl rand -hex 32 | gcloud ...`` ends with a newline).

    Raises:
        DeployError: it cannot be read.
    """
    result = g.check(
        ["secrets", "versions", "access", "latest", f"--secret={SECRET_NAME}"],
        doing=f"read the secret {SECRET_NAME}",
        assume="its value is read",
    )
    if result is None:
        return ""
    if not result.ok or not result.stdout:
        raise DeployError(
            f"the secret {SECRET_NAME} has no readable version: run with --rotate-secret to "
            f"give it one, then {g.rerun} again."
        )
    return result.stdout.strip()


def disable_versions(g: Gcloud, report: Report, versions: list[str]) -> None:
    """Disable the secret's versions from before a rotation, now that iconik has the new one."""
    for version in versions:
        g.change(
            ["secrets", "versions", "disable", version, f"--secret={SECRET_NAME}"],
            doing=f"disable version {version} of the secret {SECRET_NAME}",
        )
        report.add(f"secret {SECRET_NAME} version {version}", "disabled")


def ensure_secret_access(g: Gcloud, t: Target, report: Report, fresh: bool) -> None:
    """Let the function's account read the shared secret, and only that secret."""
    ensure_binding(
        g,
        report,
        resource=["secrets", SECRET_NAME],
        label=f"{SECRET_ROLE} on {SECRET_NAME}",
        member=f"serviceAccount:{t.account_email}",
        role=SECRET_ROLE,
        fresh=fresh,
        conditional=True,
    )
