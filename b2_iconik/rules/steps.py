"""A step of background work: a small frozen value that carries one piece of an action.

No live object crosses the runner boundary: a step round-trips through JSON, so the in-process
runner and Cloud Tasks run exactly the same thing. Nothing in a step grows with the selection:

* an EXPAND step carries one *shard* of what the user selected (the click handler splits a huge
  selection into shards that each fit in a task), and turns it into chunks;
* a CHUNK step carries one chunk of a few hundred assets through its rounds (Remove: check,
  delete, re-check later; Add: request copies, then follow them);
* END and WATCHDOG steps carry no assets at all;
* a CLOSE step ends a gathering of automation requests (:mod:`b2_iconik.engine.gathering`): it reads
  the assets they named from iconik and starts the gathered action's EXPAND steps.

Every step has a deterministic name (:meth:`Step.task_id`) made from the action's job id, the
*unit* it belongs to (a shard, a chunk, the end) and its place in that unit's chain (``seq``), so
a step that runs twice re-creates the same successors, and the queue refuses the second copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from b2_iconik.rules.payload import ActionOptions, CustomAction

EXPAND, CHUNK, END, WATCHDOG, CLOSE = "expand", "chunk", "end", "watchdog", "close"
KINDS = (EXPAND, CHUNK, END, WATCHDOG, CLOSE)
#: Add's chunks first request copies, then follow the copy jobs iconik made.
COPY, WATCH = "copy", "watch"
#: The longest reason kept per failed asset: a chunk's step must stay small.
MAX_REASON = 160
#: How many failures keep their reason: messages name that many and count the rest.
NAMED = 20


@dataclass(frozen=True)
class CopyRequest:
    """A bulk copy the plugin asked iconik for: the copy job and its format."""

    job_id: str
    format_name: str


@dataclass(frozen=True)
class Step:
    """One run of work on an action.

    Attributes:
        operation: "add" or "remove".
        job_id: the action's iconik job (the one the user sees first).
        options: storages, formats, dry run.
        auth_token: the acting user's iconik token (kept out of ``repr``).
        token_expires: when that token expires (epoch seconds); 0 = not checked yet,
            -1 = iconik gave no expiry.
        kind: EXPAND, CHUNK, END or WATCHDOG.
        shard, shards: which part of the selection an EXPAND step (and its chunks) covers.
        chunk: a CHUNK step's index within its shard.
        unit_job_id: the iconik job this step reports into: a chunk's own child job, or ""
            for the action's job itself (a one-chunk action, and expansion of one shard).
        seq: the step's place in its unit's chain; a retry after a passing failure keeps it.
        attempt: passing failures so far (iconik unreachable): the retry gets a new name.
        selection: EXPAND only: the shard of the selection to expand.
        phase: Add's chunks: COPY, then WATCH.
        total: how many assets the chunk holds.
        remaining: assets still to handle in this round; waiting: assets for the next round
            (Remove: B2 copy not yet verified; Add: copies being followed).
        done: assets finished; failures: (asset id, reason) of those that failed.
        failed: END only: how many failed in all (``failures`` names the first few).
        copies: Add's copy jobs still being followed.
        copy_counts: Remove's copy requests per asset, so a failing copy is not asked forever.
        round: how many times the waiting assets have been checked again.
        deadline: wall-clock time (epoch seconds) after which waiting ends; 0 until the chunk's
            first round sets it (the wait counts from there).
        not_before: do not run before this wall-clock time (a delayed re-check).
        trace: the click's trace id, so every log line of the action links to it.
        source: who asked, in words, when not a person's click: "automation: <policy>" or
            "the application" (shown in the job's title).
    """

    operation: str
    job_id: str
    options: ActionOptions
    auth_token: str = field(repr=False)
    token_expires: float = 0.0
    kind: str = EXPAND
    shard: int = 0
    shards: int = 1
    chunk: int = 0
    unit_job_id: str = ""
    seq: int = 0
    attempt: int = 0
    selection: CustomAction | None = None
    phase: str = ""
    total: int = 0
    remaining: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    done: int = 0
    failures: tuple[tuple[str, str], ...] = ()
    failed: int = 0
    copies: tuple[CopyRequest, ...] = ()
    copy_counts: tuple[tuple[str, int], ...] = ()
    round: int = 0
    deadline: float = 0.0
    not_before: float = 0.0
    trace: str | None = None
    source: str = ""

    @property
    def unit(self) -> str:
        """The chain this step belongs to: "x0" (expanding shard 0), "s0c3" (chunk 3)..."""
        if self.kind == EXPAND:
            return f"x{self.shard}"
        if self.kind == CHUNK:
            return f"s{self.shard}c{self.chunk}"
        return self.kind

    @property
    def report_job_id(self) -> str:
        """The iconik job this step's progress goes to."""
        return self.unit_job_id or self.job_id

    def task_id(self) -> str:
        """A deterministic task name: the same step always gets the same one.

        A hash leads (Cloud Tasks spreads hashed names best), readable parts follow for logs.
        """
        key = f"{self.job_id}/{self.unit}/{self.seq}/{self.attempt}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        return f"{digest}-{self.operation}-{self.unit}-{self.seq}-{self.attempt}"

    def next(self, **changes: Any) -> Step:
        """The following step of the same unit: ``seq`` moves on, the failure count resets."""
        return replace(self, seq=self.seq + 1, attempt=0, **changes)

    def about_action(self, kind: str, not_before: float, **changes: Any) -> Step:
        """A step about the whole action (END, WATCHDOG): no unit, no assets of its own."""
        cleared: dict[str, Any] = {
            "unit_job_id": "", "seq": 0, "attempt": 0, "selection": None, "remaining": (),
            "waiting": (), "failures": (), "copies": (), "copy_counts": (),
        }
        return replace(self, kind=kind, not_before=not_before, **{**cleared, **changes})

    def retry(self, not_before: float) -> Step:
        """The same step again later, after a passing failure (same ``seq``, new name)."""
        return replace(self, attempt=self.attempt + 1, not_before=not_before)

    def failed_assets(self) -> set[str]:
        return {asset for asset, _ in self.failures}

    def to_json(self) -> str:
        """The step as JSON (it holds the user's token: send it only to our own endpoint)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Step:
        """Rebuild a step from :meth:`to_json`'s output.

        Raises:
            ValueError, KeyError, TypeError: the text is not a step.
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError("a step is a JSON object")
        data["options"] = ActionOptions(**_tuples(data["options"]))
        if data.get("selection") is not None:
            data["selection"] = CustomAction(**_tuples(data["selection"]))
        data["copies"] = tuple(CopyRequest(**c) for c in data.get("copies", ()))
        names = {f.name for f in fields(cls)}
        step = cls(**_tuples({k: v for k, v in data.items() if k in names}))
        if step.kind not in KINDS or step.operation not in ("add", "remove"):
            raise ValueError(f"not a step: kind {step.kind!r}, operation {step.operation!r}")
        return step


@dataclass(frozen=True)
class Round:
    """What one round of a chunk did (the operations return it; the worker acts on it).

    Attributes:
        state: the chunk after this round (counts, failures, assets still waiting).
        following: the chunk's next round, or None when the chunk is over.
        message: the chunk's progress in words.
    """

    state: Step
    following: Step | None
    message: str

    @property
    def processed(self) -> int:
        """Assets finished one way or the other."""
        return self.state.done + len(self.state.failed_assets())


def add_failures(
    failures: tuple[tuple[str, str], ...], new: Iterable[tuple[str, str]]
) -> tuple[tuple[str, str], ...]:
    """``failures`` and then ``new``; past the first NAMED, reasons are dropped (only counted).

    That bounds a chunk's step whatever fails: its assets, and twenty reasons.
    """
    merged = list(failures)
    for asset, reason in new:
        merged.append((asset, clip_reason(reason) if len(merged) < NAMED else ""))
    return tuple(merged)


def clip_reason(reason: str) -> str:
    """A failure reason short enough to travel in a step."""
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def _tuples(data: dict[str, Any]) -> dict[str, Any]:
    """JSON has lists where the frozen dataclasses keep tuples (of tuples)."""
    return {
        k: tuple(tuple(i) if isinstance(i, list) else i for i in v) if isinstance(v, list) else v
        for k, v in data.items()
    }
