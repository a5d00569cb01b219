"""Acts on a policy's automation that several ``policy`` commands share, and their last line.

``create`` (:mod:`.policy_create`) and the commands on existing policies (:mod:`.policy_cli`)
both switch an automation on or off, run it on existing assets, and quote iconik's estimate.
"""

from __future__ import annotations

from typing import TextIO

from b2_iconik.custom_actions.actions import Json
from b2_iconik.custom_actions.render import PREVIEW_ID
from b2_iconik.iconik.client import IconikClient

#: As in :mod:`.cli`, which imports the ``policy`` commands (so it cannot be imported from here).
EXIT_OK = 0


def verb(verb: str, dry_run: bool) -> str:
    """``created`` for what was done, ``would create`` for what a dry run would do."""
    return f"would {verb}" if dry_run else f"{verb}d"


def done(dry_run: bool, out: TextIO) -> int:
    """The exit status of a command that may change iconik, saying so after a dry run."""
    if dry_run:
        print("dry run: nothing was changed", file=out)
    return EXIT_OK


def estimate_words(client: IconikClient, automation_id: str) -> str:
    """iconik's ``runs/estimate`` answer in words."""
    answer = client.estimate_automation(automation_id)
    words = f"{answer.get('total', '?')} asset(s) match it now"
    errors = [str(e) for e in answer.get("errors") or []]
    return words + (f" (iconik: {'; '.join(errors)})" if errors else "")


def run_existing(client: IconikClient, automation_id: str, dry_run: bool, out: TextIO) -> None:
    """POST the run (iconik answers 202 and works in the background)."""
    client.run_automation(automation_id)
    if not dry_run:
        print("run: iconik runs it on the existing assets it matches, in the background", file=out)


def set_status(client: IconikClient, automation: Json, status: str, out: TextIO) -> None:
    """PATCH the automation's status, unless it already has it."""
    if automation.get("status") == status:
        print(f"status: already {status}", file=out)
        return
    client.patch_automation(str(automation.get("id") or PREVIEW_ID), status=status)
    print(f"status: {automation.get('status') or '-'} -> {status}", file=out)
