"""A step of background work: a frozen value that carries all of an action's state.

No live object crosses the runner boundary: a step round-trips through JSON, so the in-process
runner and a queue-based one (Cloud Tasks) run exactly the same thing, and a step that runs
twice does no harm (every iconik change it makes is idempotent).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from b2_iconik.payload import ActionOptions, CustomAction

EXPAND, PROCESS, WATCH = "expand", "process", "watch"


@dataclass(frozen=True)
class CopyRequest:
    """A bulk copy the plugin asked iconik for: which job, which format, which assets."""

    job_id: str
    format_name: str
    asset_ids: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One run of work on an action.

    Attributes:
        operation: "add" or "remove".
        job_id: the iconik job that reports this action.
        stage: EXPAND (turn the selection into assets), PROCESS (handle ``remaining`` in chunks),
            or WATCH (Add: follow the copy jobs it requested).
        remaining: assets still to handle in this round.
        waiting: assets to check again in the next round (Remove: B2 copy not yet verified).
        done: how many assets are finished; failures: (asset id, reason) of those that failed.
        total: how many assets the selection holds.
        round: how many times the waiting assets have been checked again.
        deadline: wall-clock time (epoch seconds) after which waiting ends.
        not_before: do not run before this wall-clock time (a delayed re-check).
        copies: Add's copy jobs still to follow; copy_counts: Remove's copy requests per
            "asset:format", so a failing copy is not asked for forever.
        attempt: how many times this step failed for a passing reason (iconik unreachable).
    """

    operation: str
    job_id: str
    options: ActionOptions
    auth_token: str = field(repr=False)
    selection: CustomAction | None = None
    stage: str = EXPAND
    remaining: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    done: int = 0
    failures: tuple[tuple[str, str], ...] = ()
    total: int = 0
    round: int = 0
    deadline: float = 0.0
    not_before: float = 0.0
    copies: tuple[CopyRequest, ...] = ()
    copy_counts: tuple[tuple[str, int], ...] = ()
    attempt: int = 0
    trace: str | None = None

    def next(self, **changes: Any) -> Step:
        """This step with some fields changed (and the passing-failure count reset)."""
        return replace(self, attempt=0, **changes)

    def to_json(self) -> str:
        """The step as JSON (it holds the user's token: send it only to our own endpoint)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | bytes) -> Step:
        """Rebuild a step from :meth:`to_json`'s output."""
        data = json.loads(text)
        data["options"] = ActionOptions(**_tuples(data["options"]))
        if data.get("selection") is not None:
            data["selection"] = CustomAction(**_tuples(data["selection"]))
        data["copies"] = tuple(CopyRequest(**_tuples(c)) for c in data.get("copies", ()))
        names = {f.name for f in fields(cls)}
        return cls(**_tuples({k: v for k, v in data.items() if k in names}))


def _tuples(data: dict[str, Any]) -> dict[str, Any]:
    """JSON has lists where the frozen dataclasses keep tuples (of tuples)."""
    return {
        k: tuple(tuple(i) if isinstance(i, list) else i for i in v) if isinstance(v, list) else v
        for k, v in data.items()
    }
