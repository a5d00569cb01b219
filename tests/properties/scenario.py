"""A whole example: a catalogue, the actions clicked on it, the faults, and the interleaving.

Everything that decides what happens is drawn here, up front, as plain values, except the order
in which ready steps run and whether a step is delivered twice, which the driver draws as it goes
(:mod:`tests.properties.world`). Faults come in two weights:

* *transient*: a bounded number of 429/5xx answers (``fail_next``), tiny latency, at most two
  dropped connections, processes that die mid-step (Cloud Tasks mode). Bounded so that no step
  can fail six times in a row: the plugin must then get everything verifiable done;
* *harsh*: on top, a random share of 5xx answers (a storm), and copy jobs that fail, produce the
  wrong size, or hang OPEN until a given time. Only the safety and truthfulness properties hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import strategies as st

from tests.properties.catalogue import (
    MAX_ASSETS,
    REQUESTABLE,
    CatalogueSpec,
    Draw,
    catalogues,
)

#: (method, path regex) of the requests a ``fail_next`` fault may hit.
TARGETS = (
    ("GET", r"/file_sets/$"),
    ("GET", r"/files/$"),
    ("GET", r"/formats/$"),
    ("DELETE", r"/file_sets/[^/]+/$"),
    ("POST", r"/bulk/$"),
    ("PATCH", r"/API/jobs/v1/jobs/[^/]+/$"),
    ("GET", r"/API/jobs/v1/jobs/"),
    ("POST", r"/API/jobs/v1/jobs/$"),
    ("GET", r"/contents/$"),
    ("GET", r"/API/search/"),
    ("GET", r"/API/auth/"),
    ("GET", r"/API/assets/v1/assets/"),
    ("GET", r"/API/files/v1/storages/"),
    ("*", r"/API/"),
)
STATUSES = (503, 429, 500, 502, 504)
#: Interposed events: run a ready step of any action, a user deleting a file set by hand (on
#: LucidLink or B2), a copy landing, the next action's click.
EVENTS = ("step", "delete_ll", "delete_b2", "land", "click")
#: Interposed events are keyed to the n-th request the plugin sends; an example sends a few
#: hundred at most.
MAX_REQUEST_INDEX = 80


@dataclass(frozen=True)
class ActionSpec:
    """One click: Add or Remove, the formats asked for, the selection (indices), when."""

    operation: str
    formats: tuple[str, ...]
    assets: tuple[int, ...]
    collections: tuple[int, ...]
    searches: tuple[int, ...]
    #: clicked after this many steps of the run have been taken (0: at once)
    start_at: int = 0


@dataclass(frozen=True)
class FaultPlan:
    """Faults for one example (see the module's notes for the two weights)."""

    fail_next: tuple[tuple[str, str, int, int], ...] = ()
    latency: float = 0.0
    drops: tuple[tuple[int, str], ...] = ()
    crashes: tuple[int, ...] = ()
    storm: float = 0.0
    copy_fail: tuple[int, ...] = ()
    copy_wrong_size: tuple[int, ...] = ()
    copy_stays_open: tuple[int, ...] = ()
    #: fake seconds after the start when copies held OPEN complete (None: never)
    open_copies_close_at: float | None = None

    @property
    def transient(self) -> bool:
        """Only passing faults: iconik answers 429/5xx a bounded number of times, or slowly."""
        return not (self.storm or self.copy_fail or self.copy_wrong_size or self.copy_stays_open)

    def copy_faulted(self) -> set[int]:
        """Assets (indices) whose copies go wrong."""
        return {*self.copy_fail, *self.copy_wrong_size, *self.copy_stays_open}


@dataclass(frozen=True)
class Tuning:
    """Sizes that make small catalogues take the paths large ones take.

    Attributes:
        remove_chunk, add_chunk: assets per chunk (None: the plugin's own 250 and 500), so that
            a handful of assets makes several parts, each with its child job.
        shard_room: ids an EXPAND step may carry (None: the plugin's own), so that a handful of
            assets splits into several shards.
    """

    remove_chunk: int | None = None
    add_chunk: int | None = None
    shard_room: int | None = None


@dataclass(frozen=True)
class Scenario:
    """One example."""

    catalogue: CatalogueSpec
    actions: tuple[ActionSpec, ...]
    faults: FaultPlan
    #: "direct": steps run as the in-process runner runs them; "tasks": as Cloud Tasks
    #: delivers them (leases, retries, already-done checks, processes that die)
    mode: str
    tuning: Tuning
    #: (n-th plugin request, event, argument): done just before that request is sent
    events: tuple[tuple[int, str, int], ...]
    #: fake seconds each copy job takes, in turn
    copy_delays: tuple[float, ...]
    #: the longest page iconik answers (small: listings of several pages, read while changing)
    page_size: int = 100


@st.composite
def actions(draw: Draw, spec: CatalogueSpec, operations: tuple[str, ...]) -> ActionSpec:
    operation = draw(st.sampled_from(operations))
    formats = tuple(draw(st.lists(st.sampled_from(REQUESTABLE), min_size=1, max_size=2,
                                  unique=True)))
    n = len(spec.assets)
    assets = tuple(sorted(set(draw(st.lists(st.integers(0, n - 1), max_size=n)))))
    collections: tuple[int, ...] = ()
    if spec.collections:
        picks = draw(st.lists(st.integers(0, len(spec.collections) - 1), max_size=2))
        collections = tuple(sorted(set(picks)))
    searches: tuple[int, ...] = ()
    if spec.searches and draw(st.booleans()):
        searches = (0,)
    if not (assets or collections or searches):
        assets = (0,)
    return ActionSpec(operation, formats, assets, collections, searches)


@st.composite
def fault_plans(draw: Draw, n_assets: int, tasks_mode: bool) -> FaultPlan:
    fail_next = tuple(draw(st.lists(
        st.tuples(st.sampled_from(TARGETS), st.sampled_from(STATUSES), st.integers(1, 2)).map(
            lambda t: (t[0][0], t[0][1], t[1], t[2])),
        max_size=3,
    )))
    drops = tuple(draw(st.lists(
        st.tuples(st.integers(0, MAX_REQUEST_INDEX), st.sampled_from(("request", "answer"))),
        max_size=2,
    )))
    crashes: tuple[int, ...] = ()
    if tasks_mode:
        crashes = tuple(draw(st.lists(st.integers(0, MAX_REQUEST_INDEX), max_size=2)))
    latency = draw(st.sampled_from((0.0, 0.0, 0.0005)))
    if draw(st.integers(0, 3)) < 3:
        return FaultPlan(fail_next, latency, drops, crashes)
    assets = st.lists(st.integers(0, n_assets - 1), max_size=2).map(lambda a: tuple(sorted(set(a))))
    return FaultPlan(
        fail_next, latency, drops, crashes,
        storm=draw(st.sampled_from((0.0, 0.1, 0.25))),
        copy_fail=draw(assets),
        copy_wrong_size=draw(assets),
        copy_stays_open=draw(assets),
        open_copies_close_at=draw(st.none() | st.sampled_from((30.0, 600.0, 3000.0))),
    )


@st.composite
def scenarios(
    draw: Draw, operations: tuple[str, ...] = ("add", "remove"), max_actions: int = 2
) -> Scenario:
    """A whole example; the first action is always a Remove (the one that can lose data)."""
    spec = draw(catalogues(MAX_ASSETS))
    first = draw(actions(spec, ("remove",)))
    more = [
        replace(draw(actions(spec, operations)), start_at=draw(st.integers(0, 4)))
        for _ in range(min(draw(st.sampled_from((0, 1, 1, 1))), max_actions - 1))
    ]
    mode = draw(st.sampled_from(("direct", "tasks")))
    tuning = Tuning(
        remove_chunk=draw(st.none() | st.integers(1, 3)),
        add_chunk=draw(st.none() | st.integers(1, 3)),
        shard_room=draw(st.none() | st.integers(1, 3)),
    )
    events = tuple(draw(st.lists(
        st.tuples(st.integers(0, MAX_REQUEST_INDEX), st.sampled_from(EVENTS),
                  st.integers(0, 31)),
        max_size=8,
    )))
    delays = tuple(draw(st.lists(st.sampled_from((1.0, 5.0, 10.0)), min_size=1, max_size=3)))
    return Scenario(
        catalogue=spec,
        actions=(first, *more),
        faults=draw(fault_plans(len(spec.assets), mode == "tasks")),
        mode=mode,
        tuning=tuning,
        events=events,
        copy_delays=delays,
        page_size=draw(st.sampled_from((100, 4))),
    )
