"""Removing a deployment (``make undeploy``): each piece deleted if there, "absent" if not.

In a dry run the checks are not run and every piece is assumed present, so every deletion shows.
"""

from __future__ import annotations

from deploy.gcloud import Gcloud
from deploy.report import Report
from deploy.resources import has_binding
from deploy.settings import (
    SECRET_ROLE,
    Target,
)

# -- removing -------------------------------------------------------------------------------------


def remove(g: Gcloud, report: Report, what: str, describe: list[str], delete: list[str]) -> None:
    """Delete one resource when a check finds it; "absent" otherwise."""
    found = g.check([*describe, "--format=json"], doing=f"look up the {what}", assume="present")
    if found is not None and not found.ok:
        report.add(what, "absent")
        return
    g.change(delete, doing=f"delete the {what}")
    report.add(what, "deleted")


def remove_function(g: Gcloud, t: Target, report: Report) -> None:
    """Delete the function."""
    where = [t.function, "--gen2", f"--region={t.region}"]
    remove(
        g,
        report,
        f"function {t.function}",
        ["functions", "describe", *where],
        ["functions", "delete", *where],
    )


def remove_queue(g: Gcloud, t: Target, report: Report) -> None:
    """Delete the queue (with its tasks and its IAM bindings)."""
    where = [t.queue, f"--location={t.region}"]
    remove(
        g,
        report,
        f"queue {t.queue}",
        ["tasks", "queues", "describe", *where],
        ["tasks", "queues", "delete", *where],
    )


def remove_account(g: Gcloud, t: Target, report: Report) -> None:
    """Delete the service account (with the binding it has on itself)."""
    remove(
        g,
        report,
        f"service account {t.account}",
        ["iam", "service-accounts", "describe", t.account_email],
        ["iam", "service-accounts", "delete", t.account_email],
    )


def remove_secret(g: Gcloud, report: Report, name: str) -> None:
    """Delete a secret, every version (only when asked: --delete-secret)."""
    remove(
        g,
        report,
        f"secret {name}",
        ["secrets", "describe", name],
        ["secrets", "delete", name],
    )


def remove_secret_access(g: Gcloud, t: Target, report: Report, name: str) -> bool:
    """Take the account's binding off a secret that stays, so it holds no dangling member.

    A secret that is already gone (or was never made, as bz-iconik-token without --app-token)
    has no binding to take off: it is reported absent.

    Returns:
        Whether the secret exists (in a dry run, assumed so), for the report's "kept".
    """
    label = f"{SECRET_ROLE} on {name}"
    policy = g.check(
        ["secrets", "get-iam-policy", name, "--format=json"],
        doing=f"read the IAM policy of {name}",
        assume="it binds the account",
    )
    member = f"serviceAccount:{t.account_email}"
    if policy is not None and (
        not policy.ok or not has_binding(policy.json(), SECRET_ROLE, member)
    ):
        report.add(label, "absent")
        return policy.ok
    g.change(
        [
            "secrets",
            "remove-iam-policy-binding",
            name,
            f"--member={member}",
            f"--role={SECRET_ROLE}",
            "--condition=None",
        ],
        doing=f"remove {SECRET_ROLE} on {name} from {t.account_email}",
    )
    report.add(label, "removed")
    return True
