"""Running gcloud: for real, or in a dry run only printing what would run.

Two kinds of command. A *check* only reads (describe, list, get-iam-policy); its answer decides
what comes next, so in a dry run, where nothing runs, the caller says what to assume and the
assumption is printed with the command. A *change* makes or removes something. Both get
``--project`` and ``--quiet`` (gcloud must never stop to ask), and the command's own output is
kept, not shown: what the operator sees is the report, and on failure one sentence made from
gcloud's error by :func:`explain`.

Secrets go to gcloud on stdin only, never on a command line; this module never prints stdin.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

#: gcloud's words for "no such thing" when a check looks something up.
_ABSENT = re.compile(r"NOT_FOUND|not found|does not exist|404", re.IGNORECASE)
_LOGGED_OUT = re.compile(
    r"do not currently have an active account|gcloud auth login|reauthenticat|"
    r"refresh(ing)? (your|the) (current )?auth|invalid_grant",
    re.IGNORECASE,
)
_DENIED = re.compile(r"PERMISSION_DENIED|permission|forbidden|\b403\b", re.IGNORECASE)
_PERMISSION = re.compile(r"\b([a-z]+\.[a-zA-Z]+\.[a-zA-Z]+)\b")
_BILLING = re.compile(r"billing", re.IGNORECASE)
_DISABLED_API = re.compile(r"SERVICE_DISABLED|has not been used in project|it is disabled")
_TOO_RECENT = re.compile(r"existed too recently|recently deleted", re.IGNORECASE)
#: How a newly created service account shows while IAM has not caught up with it yet.
_NOT_PROPAGATED = re.compile(r"does not exist|INVALID_ARGUMENT", re.IGNORECASE)

#: Retries of a change that names a service account IAM may not know yet (seconds between).
PROPAGATION_TRIES = 6
PROPAGATION_PAUSE = 10.0


class DeployError(Exception):
    """A step failed; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class Result:
    """What one gcloud command gave back (stdout is never printed by this module)."""

    code: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """True when gcloud exited 0."""
        return self.code == 0

    def json(self) -> Any:
        """stdout as JSON (None when empty)."""
        return json.loads(self.stdout) if self.stdout.strip() else None


def error_line(stderr: str) -> str:
    """gcloud's own error, on one line: the ``ERROR:`` line, or the last line said."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = next((line for line in lines if line.startswith("ERROR:")), lines[-1] if lines else "")
    chosen = re.sub(r"^ERROR: \([^)]*\) ", "", chosen)
    return chosen[:300]


def explain(stderr: str, doing: str, project: str, rerun: str) -> str:
    """One sentence for a failed command: what went wrong, and what to do about it.

    Args:
        stderr: what gcloud printed.
        doing: what the command was for, e.g. "create the queue b2-iconik".
        project: the project, named in the advice.
        rerun: the command to run again afterwards, e.g. "make deploy".
    """
    said = error_line(stderr)
    if _LOGGED_OUT.search(stderr):
        return (
            "gcloud is not logged in (or its login expired): run `gcloud auth login`, "
            f"then {rerun} again."
        )
    if _BILLING.search(stderr):
        return (
            f"could not {doing}: billing is not enabled for project {project}; link a billing "
            f"account to it in the console (Billing), then {rerun} again."
        )
    if _DISABLED_API.search(stderr):
        return (
            f"could not {doing}: an API it needs is not enabled yet in project {project} "
            f"(gcloud: {said}); wait a minute for it to be enabled, then {rerun} again."
        )
    if _TOO_RECENT.search(stderr):
        return (
            f"could not {doing}: Cloud Tasks keeps a deleted queue's name for up to 7 days; "
            f"pass --queue with another name (or set DEPLOY_QUEUE), or wait, then {rerun} again."
        )
    if _DENIED.search(stderr):
        permission = _PERMISSION.search(said.split(":", 1)[-1]) if "ermission" in said else None
        needed = f" (it needs {permission.group(1)})" if permission else ""
        return (
            f"your account may not {doing} in project {project}{needed}: ask a project owner "
            f"for that permission, or to run this as an owner, then {rerun} again."
        )
    return f"could not {doing} (gcloud: {said or 'no message'}): fix that, then {rerun} again."


class Gcloud:
    """Runs gcloud commands for one project, or prints them in a dry run.

    Args:
        project: added to every command as ``--project``.
        out: where dry-run lines go.
        dry_run: print commands instead of running them.
        rerun: how the operator runs this again, for the advice in error messages.
        cwd: the directory gcloud runs in (``--source=.`` is the repository).
        executable: the gcloud to run (tests put a fake first on PATH instead).
        sleep: how to wait between retries (tests pass a no-op).
    """

    def __init__(
        self,
        project: str,
        out: TextIO,
        *,
        dry_run: bool = False,
        rerun: str = "make deploy",
        cwd: Path | None = None,
        executable: str = "gcloud",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.project = project
        self.out = out
        self.dry_run = dry_run
        self.rerun = rerun
        self.cwd = cwd
        self.executable = executable
        self.sleep = sleep

    def command(self, args: Sequence[str]) -> list[str]:
        """The full command line: gcloud, the arguments, the project, no prompts."""
        return [self.executable, *args, f"--project={self.project}", "--quiet"]

    def check(
        self, args: Sequence[str], *, doing: str, assume: str, absent: re.Pattern[str] = _ABSENT
    ) -> Result | None:
        """Run a read-only command; None in a dry run (after printing it and the assumption).

        A failure that means "absent" (gcloud's message matches ``absent``) is returned for the
        caller to see; any other failure raises.

        Raises:
            DeployError: gcloud failed for another reason; the message says what to do.
        """
        if self.dry_run:
            self.show("check", self.command(args), f"not run; assumed {assume}")
            return None
        result = self._run(self.command(args), None)
        if not result.ok and (
            _LOGGED_OUT.search(result.stderr) or not absent.search(result.stderr)
        ):
            raise DeployError(explain(result.stderr, doing, self.project, self.rerun))
        return result

    def change(
        self,
        args: Sequence[str],
        *,
        doing: str,
        stdin: str | None = None,
        stdin_note: str = "",
        propagating: bool = False,
    ) -> Result:
        """Run a command that changes something (in a dry run only print it).

        Args:
            args: the command after ``gcloud``.
            doing: what it is for, worded to follow "could not".
            stdin: data to pipe to gcloud (a secret, for ``--data-file=-``); never printed.
            stdin_note: what stdin holds, in words, for the dry run.
            propagating: it names a service account created moments ago; retry while IAM
                says it does not exist.

        Raises:
            DeployError: gcloud failed; the message says what to do.
        """
        command = self.command(args)
        if self.dry_run:
            self.show("would run", command, f"stdin: {stdin_note}" if stdin is not None else "")
            return Result(0)
        tries = PROPAGATION_TRIES if propagating else 1
        for attempt in range(1, tries + 1):
            result = self._run(command, stdin)
            if result.ok:
                return result
            if attempt < tries and _NOT_PROPAGATED.search(result.stderr):
                self.sleep(PROPAGATION_PAUSE)
                continue
            break
        raise DeployError(explain(result.stderr, doing, self.project, self.rerun))

    def show(self, label: str, command: Sequence[str], note: str = "") -> None:
        """Print one command of a dry run, shell-quoted, with a note."""
        line = f"{label + ':':<11}{shlex.join(command)}"
        print(f"{line}   # {note}" if note else line, file=self.out)

    def _run(self, command: list[str], stdin: str | None) -> Result:
        """Run one command, its output captured.

        Raises:
            DeployError: gcloud is not installed.
        """
        try:
            done = subprocess.run(
                command,
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                cwd=self.cwd,
                check=False,
            )
        except FileNotFoundError:
            raise DeployError(
                "gcloud is not installed or not on PATH: install the Google Cloud CLI "
                f"(https://cloud.google.com/sdk/docs/install), then {self.rerun} again."
            ) from None
        return Result(done.returncode, done.stdout, done.stderr)
