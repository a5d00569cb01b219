"""The world's pieces: its settings, the items it keeps pending, the runs, the scripted queue."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

from b2_iconik.auth.secret import SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.engine.cloud_tasks import CloudTasksRunner
from b2_iconik.engine.worker import Worker
from b2_iconik.iconik.retry import retry_policy
from b2_iconik.rules import add, remove
from b2_iconik.rules.steps import Step
from iconik_sandbox.state import State
from tests.properties.scenario import ActionSpec

if TYPE_CHECKING:
    from tests.properties.world import World

SECRET = "property-tests-shared-secret"
#: The fake clock starts here (any time later than the sandbox's own wall clock would do).
START = 4_000_000_000.0
REMOVE_WAIT_SECONDS = 1200.0
RECHECK_SECONDS = 15.0
WATCHDOG_SECONDS = 3600.0
NEVER_STALE = 1e12
#: How long a step may take: an interposed event runs what falls due that much later.
STEP_SECONDS = 30.0
#: The queue's --max-attempts; a step delivered that often is dropped by Cloud Tasks.
MAX_DELIVERIES = 10
#: How often a user clicks an action iconik keeps refusing (more than the faults can refuse).
CLICKS = 10
#: A run that takes more turns than this is stuck: the test fails.
MAX_TURNS = 3000
#: One retry, no backoff, Retry-After not honoured: faults surface to the plugin's own logic,
#: and nothing waits in real time.
FAST = retry_policy(total=1, backoff_factor=0).new(respect_retry_after_header=False)
FAST_POST = retry_policy(total=1, backoff_factor=0, post=True).new(
    respect_retry_after_header=False)

_acting: ContextVar[int | None] = ContextVar("acting", default=None)


class ProcessDied(BaseException):
    """The instance running a step stopped mid-step. A BaseException, so that no ``except
    Exception`` of the plugin can swallow it: the process is gone, nothing more of it runs."""


@dataclass
class Item:
    """Something due at a fake time: a step delivery, a copy job's work, an upload closing."""

    due: float
    label: str
    step: Step | None = None
    retry: int = 0
    run: Callable[[], object] | None = None


@dataclass
class ActionRun:
    """One click and what the checks need to know of it.

    Attributes:
        selection: the assets the selection reaches, by the test's own walk of the catalogue.
        originals: for each of them, its ACTIVE LucidLink file sets of the action's formats when
            it was clicked.
        seen: for a Remove, each asset's LucidLink file sets (of its formats) as the answers it
            got last showed them: True, there; False, gone. What its report about the asset must
            agree with.
    """

    spec: ActionSpec
    job_id: str | None = None
    answer: int = 0
    selection: set[str] = field(default_factory=set)
    originals: dict[str, set[str]] = field(default_factory=dict)
    seen: dict[str, dict[str, bool]] = field(default_factory=dict)


class ScriptedQueue(CloudTasksRunner):
    """The Queue protocol on the world's pending list: each name taken once, as Cloud Tasks.

    It is also the Cloud Tasks runner, so that ``deliver`` (the production code) runs each
    delivery in ``tasks`` mode; only the queue calls are the world's.
    """

    def __init__(self, world: World, settings: Settings, worker: Worker) -> None:
        settings = replace(settings, tasks_queue="projects/p/locations/l/queues/q",
                           tasks_url="http://127.0.0.1:9/")
        super().__init__(settings, SharedSecret(settings), worker, clock=world.clock,
                         sleep=world.sleep)
        self.world = world
        self.names: set[str] = set()

    def start(self, steps: Any) -> None:
        for step in steps:
            self.enqueue(step)

    def enqueue(self, step: Step) -> bool:
        if not self.claim(step.task_id()):
            return False
        self.world.add(Item(max(step.not_before, self.world.now), step.kind, step=step))
        return True

    def claim(self, name: str) -> bool:
        if name in self.names:
            return False
        self.names.add(name)
        return True


TERMINAL = frozenset({"FINISHED", "FINISHED_WITH_WARNING", "FAILED", "ABORTED", "SKIPPED"})


def _index(n: int) -> st.SearchStrategy[int]:
    """A choice among n things (hypothesis shrinks it towards the first)."""
    return st.integers(0, n - 1)


def reach(state: State, assets: list[str], collections: list[str], searches: list[str]) -> set[str]:
    """The assets a selection reaches: the test's own walk of the catalogue (cycles included)."""
    found = set(assets)
    unvisited, seen = list(collections), set()
    while unvisited:
        collection_id = unvisited.pop()
        if collection_id in seen:
            continue
        seen.add(collection_id)
        for kind, child in state.contents.get(collection_id, []):
            if kind == "assets":
                found.add(child)
            else:
                unvisited.append(child)
    for search_id in searches:
        found.update(state.saved_searches[search_id]["asset_ids"])
    return found


@contextlib.contextmanager
def tuned(remove_chunk: int | None, add_chunk: int | None) -> Iterator[None]:
    """Small chunks for one example, and one asset checked at a time (so requests keep their
    order); the plugin's own values are put back afterwards."""
    saved = remove.CHUNK, add.CHUNK, remove.PARALLEL
    remove.CHUNK = remove_chunk or saved[0]
    add.CHUNK = add_chunk or saved[1]
    remove.PARALLEL = 1
    try:
        yield
    finally:
        remove.CHUNK, add.CHUNK, remove.PARALLEL = saved
