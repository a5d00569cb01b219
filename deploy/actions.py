"""The iconik custom actions, registered and removed with the plugin's own tool.

``make deploy`` runs ``python -m b2_iconik.custom_actions create URL ...`` (the tool behind
``b2-iconik-actions``) and ``make undeploy`` its ``delete``. The shared secret and the iconik token
reach the tool in its environment only: never on a command line, never printed. The tool's own
lines are shown, with both values masked again in case.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deploy.gcloud import DeployError, Gcloud
from deploy.report import Report
from deploy.secret import read_secret
from deploy.settings import ROOT, Target

TOOL: tuple[str, ...] = (sys.executable, "-m", "b2_iconik.custom_actions")
_SUMMARY = re.compile(r"(\d+) created, (\d+) updated, (\d+) deleted, (\d+) unchanged")
MASK = "****"


@dataclass(frozen=True)
class Registration:
    """What the actions need besides the deployment: the token and the storages.

    Attributes:
        token: the iconik application token (ICONIK_TOKEN); repr hides it.
        b2_storage, ll_storage, formats: the tool's --b2-storage, --ll-storage and --formats,
            each left out when not given.
    """

    token: str = field(repr=False)
    b2_storage: str | None = None
    ll_storage: str | None = None
    formats: str | None = None

    def options(self) -> list[str]:
        """The tool's options for the storages and formats given."""
        given = (
            ("--b2-storage", self.b2_storage),
            ("--ll-storage", self.ll_storage),
            ("--formats", self.formats),
        )
        return [part for flag, value in given if value for part in (flag, value)]


def register_actions(g: Gcloud, t: Target, reg: Registration, url: str, report: Report) -> None:
    """Create or refresh the function's actions in iconik with the secret's latest value.

    Raises:
        DeployError: the tool failed; its one-line error is in the message.
    """
    command = [*TOOL, "create", url, *reg.options()]
    if g.dry_run:
        read_secret(g)
        g.show("would run", command, "with ICONIK_TOKEN and the secret in its environment")
        report.add("iconik custom actions (8)", "registered", url)
        return
    secret = read_secret(g)
    output = _run_tool(command, t, reg.token, secret, g)
    report.add("iconik custom actions (8)", _outcome(output, "registered"), url)


def delete_actions(g: Gcloud, t: Target, token: str, url: str, report: Report) -> None:
    """Delete the function's actions from iconik (none there: "absent").

    Raises:
        DeployError: the tool failed; its one-line error is in the message.
    """
    command = [*TOOL, "delete", url]
    if g.dry_run:
        g.show("would run", command, "with ICONIK_TOKEN in its environment")
        report.add(f"iconik custom actions of {url}", "deleted")
        return
    output = _run_tool(command, t, token, None, g)
    outcome = "absent" if "no plugin actions" in output else _outcome(output, "deleted")
    report.add(f"iconik custom actions of {url}", outcome)


def _outcome(output: str, changed: str) -> str:
    """The report's word for the tool's summary line: unchanged, or what it changed."""
    match = _SUMMARY.search(output)
    if not match:
        return changed
    created, updated, deleted, _ = (int(n) for n in match.groups())
    parts = [
        f"{n} {word}"
        for n, word in ((created, "created"), (updated, "updated"), (deleted, "deleted"))
        if n
    ]
    return ", ".join(parts) if parts else "unchanged"


def _run_tool(command: list[str], t: Target, token: str, secret: str | None, g: Gcloud) -> str:
    """Run the actions tool with the credentials in its environment; returns its output.

    Raises:
        DeployError: it exited non-zero.
    """
    env = {
        **os.environ,
        "ICONIK_ID": t.iconik_id,
        "ICONIK_URL": t.iconik_url,
        "ICONIK_TOKEN": token,
    }
    if secret is not None:
        env["BZ_SHARED_SECRET"] = secret
    done = subprocess.run(
        command, env=env, cwd=Path(ROOT), capture_output=True, text=True, check=False
    )
    output = _mask(done.stdout, token, secret)
    for line in output.splitlines():
        print(f"    {line}", file=g.out)
    if done.returncode != 0:
        said = _mask(done.stderr, token, secret).strip().splitlines()
        reason = said[-1] if said else f"exit status {done.returncode}"
        raise DeployError(
            f"the iconik custom actions could not be changed ({reason}); fix that, then "
            f"{g.rerun} again (`{shlex.join(command[1:])}` is the step that failed)."
        )
    return output


def _mask(text: str, *values: str | None) -> str:
    """The text with every given secret value replaced by ****."""
    for value in values:
        if value:
            text = text.replace(value, MASK)
    return text
