"""The plugin's secrets in Secret Manager, each made once and never printed.

* ``bz-shared-secret``, the shared secret iconik sends: read for registering the actions, and
  rotated only when asked (``--rotate-secret``).
* ``bz-task-key``, the key sealing users' iconik tokens in task bodies: never read out of Secret
  Manager except to check its shape, and never rotated here, since tasks already queued under an
  old key would no longer open (docs/operating.md says how to rotate it by hand, and when).
* ``bz-iconik-token``, the plugin's own iconik application token, for requests iconik's
  automations send without one: stored only when asked (``--app-token``), from the token
  make deploy already has; otherwise only looked at, to say whether such requests are served.

The first two values are random; every value goes to gcloud on stdin only (``--data-file=-``),
and is never printed or put on a command line. The function's account may read these secrets
and nothing else.
"""

from __future__ import annotations

import hmac
import re
import secrets

from deploy.gcloud import DeployError, Gcloud
from deploy.report import Report
from deploy.resources import ensure_binding, has_binding
from deploy.settings import (
    APP_TOKEN_NAME,
    SECRET_BYTES,
    SECRET_NAME,
    SECRET_ROLE,
    TASK_KEY_NAME,
    Target,
)

#: What a new secret's stdin holds, as the dry run says it.
_STDIN_NOTE = f"{SECRET_BYTES} random bytes as hex, never printed"
#: The shape the plugin requires of the task key: 32 bytes as 64 hex characters.
_TASK_KEY = re.compile(r"[0-9a-fA-F]{64}")
#: What the application token's stdin holds, as the dry run says it.
_TOKEN_NOTE = "**** (the iconik application token, never printed)"
#: gcloud's words, reading the latest version, for "no value to compare": none, or disabled.
_NO_VALUE = re.compile(r"NOT_FOUND|not found|does not exist|DISABLED|DESTROYED|404", re.I)

# -- the shared secret ----------------------------------------------------------------------------


def new_secret() -> str:
    """A new secret value: random bytes as hex (for iconik's header, or the task key)."""
    return secrets.token_hex(SECRET_BYTES)


def create_secret(
    g: Gcloud, report: Report, name: str, value: str = "", note: str = "", detail: str = ""
) -> None:
    """Create a secret whose first version is the value (default: a new random one).

    The value goes to gcloud on stdin only; ``note`` says what it is in a dry run.
    """
    g.change(
        ["secrets", "create", name, "--replication-policy=automatic", "--data-file=-"],
        doing=f"create the secret {name}",
        stdin=value or new_secret(),
        stdin_note=note or _STDIN_NOTE,
    )
    report.add(f"secret {name}", "created", detail)


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
    if not exists:
        create_secret(g, report, SECRET_NAME)
        return []
    if not rotate:
        report.add(f"secret {SECRET_NAME}", "unchanged", "kept: --rotate-secret replaces it")
        return []
    old = enabled_versions(g)
    g.change(
        ["secrets", "versions", "add", SECRET_NAME, "--data-file=-"],
        doing=f"add a version to the secret {SECRET_NAME}",
        stdin=new_secret(),
        stdin_note=_STDIN_NOTE,
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


# -- the task key ---------------------------------------------------------------------------------


def ensure_task_key(g: Gcloud, report: Report) -> None:
    """Create the task key when absent; an existing one is kept, and checked, never replaced.

    Replacing it is not for make deploy: a step already queued carries a user's token sealed under
    the current key, and under a new one it would not open (the step is refused until the queue
    gives up on it, its action left unfinished). docs/operating.md says how to add a version by hand
    while no action runs.

    Raises:
        DeployError: an existing key's latest version is not usable by the plugin.
    """
    found = g.check(
        ["secrets", "describe", TASK_KEY_NAME, "--format=json"],
        doing=f"look up the secret {TASK_KEY_NAME}",
        assume="absent",
    )
    if found is None or not found.ok:
        create_secret(g, report, TASK_KEY_NAME)
        return
    check_task_key(g)
    report.add(f"secret {TASK_KEY_NAME}", "unchanged", "kept: never rotated by make deploy")


def check_task_key(g: Gcloud) -> None:
    """Stop when the task key's latest version is not 64 hex characters, as the plugin needs.

    A key added by hand in another shape (raw bytes, a passphrase) would let the deploy succeed
    and every click then fail; this says so now. The value is only matched, never printed.

    Raises:
        DeployError: no readable version, or one of another shape.
    """
    result = g.check(
        ["secrets", "versions", "access", "latest", f"--secret={TASK_KEY_NAME}"],
        doing=f"read the secret {TASK_KEY_NAME}",
        assume="it is 64 hex characters",
    )
    if result is None:
        return
    if not result.ok or not _TASK_KEY.fullmatch(result.stdout.strip()):
        raise DeployError(
            f"the secret {TASK_KEY_NAME} has no enabled version of 64 hex characters: add one "
            f"while no action is running (docs/operating.md, \"Rotating the task key\"), then "
            f"{g.rerun} again."
        )


# -- the application token ------------------------------------------------------------------------

#: What the report says after each outcome, for the operator deciding about policies.
SERVED = "policies' requests without a token are served with it"
REFUSED = "policies' requests without a token are refused"


def ensure_app_token(g: Gcloud, report: Report, token: str) -> bool:
    """Store the iconik application token as the secret: created when absent, a new version
    when its latest value differs, else left alone.

    The stored value is read into memory only to compare it (as the shared secret is read for
    the actions), so a second run adds no version.

    Returns:
        True when a version was added to an existing secret: the function's instances read it
        once, so the caller deploys the function again for them to read the new one.
    """
    found = g.check(
        ["secrets", "describe", APP_TOKEN_NAME, "--format=json"],
        doing=f"look up the secret {APP_TOKEN_NAME}",
        assume="absent",
    )
    if found is None or not found.ok:
        create_secret(g, report, APP_TOKEN_NAME, token, _TOKEN_NOTE, SERVED)
        return False
    if hmac.compare_digest(stored_app_token(g).encode(), token.encode()):
        report.add(f"secret {APP_TOKEN_NAME}", "unchanged", f"holds this token; {SERVED}")
        return False
    g.change(
        ["secrets", "versions", "add", APP_TOKEN_NAME, "--data-file=-"],
        doing=f"add a version to the secret {APP_TOKEN_NAME}",
        stdin=token,
        stdin_note=_TOKEN_NOTE,
    )
    report.add(f"secret {APP_TOKEN_NAME}", "updated", "new version: it held another token")
    return True


def stored_app_token(g: Gcloud) -> str:
    """The application token's latest value, for comparing only; empty when it has none enabled.

    Surrounding whitespace is dropped, as the function drops it.
    """
    result = g.check(
        ["secrets", "versions", "access", "latest", f"--secret={APP_TOKEN_NAME}"],
        doing=f"read the secret {APP_TOKEN_NAME}",
        assume="it differs",
        absent=_NO_VALUE,
    )
    if result is None or not result.ok:
        return ""
    return result.stdout.strip()


def report_app_token(g: Gcloud, t: Target, report: Report) -> None:
    """Without --app-token: change nothing, and say whether policies' requests are served.

    They are when the secret exists and the function's account may read it (a secret made by
    hand may lack the binding, which only --app-token adds).
    """
    label = f"secret {APP_TOKEN_NAME}"
    found = g.check(
        ["secrets", "describe", APP_TOKEN_NAME, "--format=json"],
        doing=f"look up the secret {APP_TOKEN_NAME}",
        assume="absent",
    )
    if found is None or not found.ok:
        report.add(label, "absent", f"{REFUSED}: --app-token stores $ICONIK_TOKEN")
        return
    policy = g.check(
        ["secrets", "get-iam-policy", APP_TOKEN_NAME, "--format=json"],
        doing=f"read the IAM policy of {APP_TOKEN_NAME}",
        assume="it binds the account",
    )
    member = f"serviceAccount:{t.account_email}"
    if policy is not None and not has_binding(policy.json(), SECRET_ROLE, member):
        detail = f"the function may not read it, so {REFUSED}: --app-token grants it"
        report.add(label, "unchanged", detail)
        return
    report.add(label, "unchanged", f"{SERVED}; --app-token updates it")


# -- who may read them ----------------------------------------------------------------------------


def ensure_secret_access(g: Gcloud, t: Target, report: Report, fresh: bool, name: str) -> None:
    """Let the function's account read one secret (the role is bound on that secret only)."""
    ensure_binding(
        g,
        report,
        resource=["secrets", name],
        label=f"{SECRET_ROLE} on {name}",
        member=f"serviceAccount:{t.account_email}",
        role=SECRET_ROLE,
        fresh=fresh,
        conditional=True,
    )
