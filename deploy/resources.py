"""The deployment's project-level pieces, each made right and safe to make twice.

Every ``ensure_*`` function first looks (a check), then changes only what is missing or differs,
and records the outcome: created, updated, or unchanged. In a dry run the checks are not run and
the caller's assumption stands in for their answer (deploying assumes everything absent). Here:
the login and project checks, the APIs, the service account, IAM bindings and the queue; the
secret, the function and removal have modules of their own.
"""

from __future__ import annotations

import re
from typing import Any

from deploy.gcloud import DeployError, Gcloud
from deploy.report import Report
from deploy.settings import (
    APIS,
    QUEUE_FLAGS,
    QUEUE_ROLES,
    SELF_ROLE,
    Target,
)

#: Where each queue flag shows in `gcloud tasks queues describe --format=json`.
QUEUE_FIELDS: dict[str, tuple[str, str]] = {
    "--max-concurrent-dispatches": ("rateLimits", "maxConcurrentDispatches"),
    "--max-dispatches-per-second": ("rateLimits", "maxDispatchesPerSecond"),
    "--max-attempts": ("retryConfig", "maxAttempts"),
    "--min-backoff": ("retryConfig", "minBackoff"),
    "--max-backoff": ("retryConfig", "maxBackoff"),
    "--max-doublings": ("retryConfig", "maxDoublings"),
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PROJECT_MISSING = re.compile(r"NOT_FOUND|not found|not exist|permission", re.IGNORECASE)


# -- before anything: logged in, and a project we can see -----------------------------------------


def check_login(g: Gcloud) -> None:
    """Stop at once when gcloud has no active account, before anything is made.

    Raises:
        DeployError: not logged in.
    """
    args = ["auth", "list", "--filter=status:ACTIVE", "--format=value(account)"]
    result = g.check(args, doing="read gcloud's login", assume="logged in")
    if result is not None and not result.stdout.strip():
        raise DeployError(
            f"gcloud is not logged in: run `gcloud auth login`, then {g.rerun} again."
        )


def check_project(g: Gcloud) -> None:
    """Stop at once when the project does not exist or cannot be seen.

    Raises:
        DeployError: it does not, or cannot.
    """
    args = ["projects", "describe", g.project, "--format=value(projectId)"]
    result = g.check(args, doing="read the project", assume="it exists", absent=_PROJECT_MISSING)
    if result is not None and not result.ok:
        raise DeployError(
            f"project {g.project} does not exist or your account cannot see it: check "
            f"GOOGLE_CLOUD_PROJECT in .env.yaml (or --project), then {g.rerun} again."
        )


# -- APIs -----------------------------------------------------------------------------------------


def ensure_apis(g: Gcloud, report: Report) -> None:
    """Enable the APIs the deployment uses that are not enabled yet."""
    listed = g.check(
        ["services", "list", "--enabled", "--format=value(config.name)"],
        doing="list the enabled APIs",
        assume="none enabled",
    )
    enabled = set(listed.stdout.split()) if listed is not None else set()
    missing = [api for api in APIS if api not in enabled]
    if not missing:
        report.add(f"APIs ({len(APIS)})", "unchanged")
        return
    g.change(
        ["services", "enable", *missing],
        doing=f"enable the APIs {', '.join(missing)}",
    )
    report.add(f"APIs ({len(APIS)})", "enabled", ", ".join(a.split(".")[0] for a in missing))


# -- the service account --------------------------------------------------------------------------


def ensure_account(g: Gcloud, t: Target, report: Report) -> bool:
    """Create the function's own service account when absent; True when it was just created."""
    found = g.check(
        ["iam", "service-accounts", "describe", t.account_email, "--format=json"],
        doing=f"look up the service account {t.account_email}",
        assume="absent",
    )
    if found is not None and found.ok:
        report.add(f"service account {t.account}", "unchanged")
        return False
    g.change(
        [
            "iam",
            "service-accounts",
            "create",
            t.account,
            "--display-name=Backblaze B2 plugin for iconik",
            f"--description=Runs the function {t.function}; made by make deploy",
        ],
        doing=f"create the service account {t.account}",
    )
    report.add(f"service account {t.account}", "created", t.account_email)
    return True


def ensure_self_access(g: Gcloud, t: Target, report: Report, fresh: bool) -> None:
    """Let the account act as itself (serviceAccountUser on itself only), for OIDC tasks.

    The function creates tasks carrying Cloud Tasks' OIDC token for its own account
    (TASKS_SERVICE_ACCOUNT). This binding is the one grant that needs. Cloud Tasks' API reference,
    OidcToken.serviceAccountEmail (https://cloud.google.com/tasks/docs/reference/rest/v2/OidcToken):
    "The service account must be within the same project as the queue. The caller must have
    iam.serviceAccounts.actAs permission for the service account." The caller is the function,
    running as this very account, so it needs actAs (in roles/iam.serviceAccountUser) on itself,
    bound on the account alone, not on the project.

    The token is minted by Google's Cloud Tasks service agent
    (service-PROJECT_NUMBER@gcp-sa-cloudtasks.iam.gserviceaccount.com) through the role Google
    grants it when the API is enabled: roles/cloudtasks.serviceAgent, "Grants Cloud Tasks Service
    Account access to manage resources", which holds iam.serviceAccounts.getOpenIdToken and
    getAccessToken (https://cloud.google.com/iam/docs/roles-permissions/cloudtasks). So no
    roles/iam.serviceAccountTokenCreator is granted to anyone: it would add reach, not function.
    No roles/run.invoker either: the function is public (iconik cannot sign requests), and the
    plugin checks the token itself.
    """
    ensure_binding(
        g,
        report,
        resource=["iam", "service-accounts", t.account_email],
        label=f"{SELF_ROLE} on the account itself",
        member=f"serviceAccount:{t.account_email}",
        role=SELF_ROLE,
        fresh=fresh,
        conditional=True,
    )


# -- IAM bindings ---------------------------------------------------------------------------------


def has_binding(policy: Any, role: str, member: str) -> bool:
    """True when an IAM policy (gcloud's JSON) binds the member to the role unconditionally."""
    bindings = (policy or {}).get("bindings") or []
    return any(
        b.get("role") == role and member in (b.get("members") or []) and not b.get("condition")
        for b in bindings
    )


def ensure_binding(
    g: Gcloud,
    report: Report,
    *,
    resource: list[str],
    label: str,
    member: str,
    role: str,
    fresh: bool,
    conditional: bool,
    where: tuple[str, ...] = (),
) -> None:
    """Bind one role on one resource to the member, unless the policy already does.

    Args:
        resource: the command group and the resource, e.g. ``["secrets", "bz-shared-secret"]``.
        label: how the report names the binding.
        fresh: the member was created moments ago: retry while IAM does not know it yet.
        conditional: the command takes ``--condition`` (``None`` here: no condition, no prompt).
        where: extra flags locating the resource, e.g. ``--location``.
    """
    *group, name = resource
    policy = g.check(
        [*group, "get-iam-policy", name, *where, "--format=json"],
        doing=f"read the IAM policy of {name}",
        assume="no bindings",
    )
    if policy is not None and policy.ok and has_binding(policy.json(), role, member):
        report.add(label, "unchanged")
        return
    condition = ["--condition=None"] if conditional else []
    g.change(
        [
            *group,
            "add-iam-policy-binding",
            name,
            *where,
            f"--member={member}",
            f"--role={role}",
            *condition,
        ],
        doing=f"grant {role} on {name}",
        propagating=fresh,
    )
    report.add(label, "added")


# -- the queue ------------------------------------------------------------------------------------


def seconds(value: object) -> float:
    """A duration or number as gcloud writes it ("10s", "300s", "0.100s", 4, "5m") in seconds."""
    match = _DURATION.fullmatch(str(value).strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def queue_differences(queue: Any) -> list[str]:
    """The queue flags whose settings differ from :data:`QUEUE_FLAGS`, as "flag: have -> want"."""
    differ = []
    for flag, want in QUEUE_FLAGS.items():
        section, key = QUEUE_FIELDS[flag]
        have = ((queue or {}).get(section) or {}).get(key)
        if have is None or seconds(have) != seconds(want):
            differ.append(f"{flag.lstrip('-')}: {have} -> {want}")
    return differ


def queue_flags() -> list[str]:
    """The queue's settings as gcloud flags."""
    return [f"{flag}={value}" for flag, value in QUEUE_FLAGS.items()]


def ensure_queue(g: Gcloud, t: Target, report: Report) -> None:
    """Create the queue with :data:`QUEUE_FLAGS`, or update it when its settings differ."""
    where = f"--location={t.region}"
    found = g.check(
        ["tasks", "queues", "describe", t.queue, where, "--format=json"],
        doing=f"look up the queue {t.queue}",
        assume="absent",
    )
    if found is None or not found.ok:
        g.change(
            ["tasks", "queues", "create", t.queue, where, *queue_flags()],
            doing=f"create the queue {t.queue}",
        )
        report.add(f"queue {t.queue}", "created", t.region)
        return
    differ = queue_differences(found.json())
    if not differ:
        report.add(f"queue {t.queue}", "unchanged")
        return
    g.change(
        ["tasks", "queues", "update", t.queue, where, *queue_flags()],
        doing=f"update the queue {t.queue}",
    )
    report.add(f"queue {t.queue}", "updated", "; ".join(differ))


def ensure_queue_access(g: Gcloud, t: Target, report: Report, fresh: bool) -> None:
    """Let the function's account add tasks to the queue and delete them, on that queue only."""
    for role in QUEUE_ROLES:
        ensure_binding(
            g,
            report,
            resource=["tasks", "queues", t.queue],
            label=f"{role} on queue {t.queue}",
            member=f"serviceAccount:{t.account_email}",
            role=role,
            fresh=fresh,
            conditional=False,
            where=(f"--location={t.region}",),
        )
