"""Drives the plugin's own steps through a scripted queue, on a fake clock, one example at a time.

Nothing here runs on its own: there are no timers and no sleeps. The plugin's steps, the
sandbox's copy jobs and the late closing uploads are all *items* in one pending list, each due at
a fake time. The driver repeatedly picks one of the items that are due (hypothesis chooses which)
and runs it to the end; when none is due, the clock jumps to the next one. So a re-check "in five
minutes" costs nothing, and the same choices always give the same run.

Finer interleavings come from *interposed events*, keyed to the n-th request the plugin sends:
just before that request, a step of any action due now or within ``STEP_SECONDS`` runs to its
end (two chunks, two actions at once; the clock moves on, as it does while a step runs), a user
deletes a file set by hand, a copy lands, or the next action is clicked. Steps run in one thread
at a time (``remove.PARALLEL`` is 1 here), so the n-th request is always the same request.

Two ways to run a step, as the plugin's two runners do:

* ``direct``: ``Worker.execute(step, queue)``, as the in-process ThreadRunner does;
* ``tasks``: ``CloudTasksRunner.deliver``, the production code behind each Cloud Tasks delivery
  (leases, "already done" checks on a retry, the last attempt). Here a process may also die
  mid-step (:class:`ProcessDied`, raised from the n-th request); the step is then delivered again,
  as Cloud Tasks would.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import Any

from b2_iconik.auth.secret import SharedSecret
from b2_iconik.base.config import Settings
from b2_iconik.edge.http import Request
from b2_iconik.edge.router import Plugin
from b2_iconik.engine.cloud_tasks import Delivery
from b2_iconik.engine.worker import Worker
from b2_iconik.rules import plan
from b2_iconik.rules.steps import Step
from iconik_sandbox import Sandbox
from tests.properties.catalogue import Built, build, close_uploads
from tests.properties.items import (
    CLICKS,
    MAX_DELIVERIES,
    MAX_TURNS,
    NEVER_STALE,
    RECHECK_SECONDS,
    REMOVE_WAIT_SECONDS,
    SECRET,
    START,
    STEP_SECONDS,
    TERMINAL,
    WATCHDOG_SECONDS,
    ActionRun,
    Item,
    ProcessDied,
    ScriptedQueue,
    _acting,
    _index,
    reach,
)
from tests.properties.oracle import DeleteGuard, Watch
from tests.properties.scenario import Scenario
from tests.properties.wire import Wire


class World(Wire):
    """One example: the sandbox with a built catalogue, the plugin, and the driver."""

    def __init__(self, sb: Sandbox, guard: DeleteGuard, scenario: Scenario,
                 draw: Callable[[Any], Any], listed_counts: dict[str, int]) -> None:
        self.sb, self.state, self.scenario, self.draw = sb, sb.state, scenario, draw
        self.now = START
        self.pending: list[Item] = []
        self.stats: Counter[str] = Counter()
        self.sent = 0
        self.nested = 0
        self.dead = False
        self.crashes = set(scenario.faults.crashes)
        self.drops = dict(scenario.faults.drops)
        #: assets whose file sets a user deleted by hand, on B2 and on LucidLink
        self.touched_b2: set[str] = set()
        self.touched_ll: set[str] = set()
        #: the sandbox's own crashes (filled in by the test's rig)
        self.rig_crashes: list[str] = []
        self.copy_count = 0
        #: the file sets a listing has shown so far, per (action, asset), across its pages
        self._listings: dict[tuple[int, str], set[str]] = {}
        self.built: Built = build(sb.state, scenario.catalogue)
        listed_counts.clear()
        listed_counts.update(self.built.listed_counts)
        self.watch = Watch(self.built.b2_storage_id, self.built.ll_storage_id)
        guard.watch = self.watch
        self.runs = [ActionRun(a) for a in scenario.actions]
        self.clicked = 0
        settings = Settings(
            iconik_id=sb.app_id, iconik_url=sb.url, shared_secret=SECRET,
            remove_wait_seconds=REMOVE_WAIT_SECONDS, remove_recheck_seconds=RECHECK_SECONDS,
            watchdog_seconds=WATCHDOG_SECONDS, tasks_max_attempts=MAX_DELIVERIES,
            # The fake clock runs decades past the sandbox's dates, and no heartbeat beats
            # here: every job would look interrupted (the sweep has tests of its own).
            inprocess_stale_seconds=NEVER_STALE,
        )
        self.worker = Worker(settings, clock=self.clock, client_factory=self.client)
        self.queue = ScriptedQueue(self, settings, self.worker)
        self.plugin = Plugin(settings, SharedSecret(settings), self.worker, self.queue)
        self._faults()
        sb.context.per_page_cap = scenario.page_size
        sb.copies._schedule = self._schedule_copy  # type: ignore[method-assign]
        for at, asset_id, file_set_id in self.built.closings:
            self.add(Item(START + at, "closing", run=partial(self._close, asset_id, file_set_id)))
        if scenario.faults.open_copies_close_at is not None:
            self.add(Item(START + scenario.faults.open_copies_close_at, "open copies close",
                          run=self.state.complete_open_copies))

    # -- time and the pending list -------------------------------------------------------------
    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def add(self, item: Item) -> None:
        self.pending.append(item)

    def ready(self) -> list[Item]:
        return [item for item in self.pending if item.due <= self.now]

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> None:
        """Click the actions and drain everything; hypothesis picks the order of ready items."""
        turn = 0
        while True:
            while self.clicked < len(self.runs) and self.runs[self.clicked].spec.start_at <= turn:
                self.click()
            if not self.pending:
                if self.clicked < len(self.runs):
                    turn = self.runs[self.clicked].spec.start_at
                    continue
                return
            ready = self.ready()
            if not ready:
                self.now = min(item.due for item in self.pending)
                continue
            choice = 0
            if len(ready) > 1:
                choice = self.draw(_index(len(ready)))
                self.stats["order choices"] += 1
            item = ready[choice]
            self.pending.remove(item)
            self.run_item(item)
            if item.step is not None and self.draw(_index(10)) == 9:
                self.stats["steps delivered twice"] += 1
                twin = self.scenario.mode == "tasks" and self.draw(_index(2)) == 1
                self.deliver(item if twin else replace(item, retry=item.retry + 1))
            turn += 1
            assert turn < MAX_TURNS, "the run did not end: steps keep coming"

    def run_item(self, item: Item) -> None:
        if item.step is None:
            assert item.run is not None
            item.run()
            self.stats[f"ran: {item.label}"] += 1
            return
        self.deliver(item)

    def deliver(self, item: Item) -> None:
        """Run one step as its runner would; a failed Cloud Tasks delivery comes again."""
        step = item.step
        assert step is not None
        token = _acting.set(self._action_of(step))
        self.nested += 1
        try:
            if self.scenario.mode == "direct":
                self.worker.execute(step, self.queue)
            else:
                answer = self.queue.deliver(step, Delivery(step.task_id(), item.retry, item.retry))
                if answer.status >= 300:
                    self._again(item, float(answer.retry_after or 10))
        except ProcessDied:
            self.stats["processes died mid-step"] += 1
            self._again(item, 10.0)
        finally:
            self.dead = False
            self.nested -= 1
            _acting.reset(token)

    def _again(self, item: Item, delay: float) -> None:
        assert item.retry + 1 < MAX_DELIVERIES, f"Cloud Tasks would drop {item.label} now"
        self.add(replace(item, due=self.now + delay, retry=item.retry + 1))

    def _action_of(self, step: Step) -> int | None:
        for index, run in enumerate(self.runs):
            if run.job_id == step.job_id:
                return index
        return None

    # -- clicks --------------------------------------------------------------------------------
    def click(self) -> None:
        """Click the next action as iconik would; a user clicks again on a 503 answer (iconik
        was unavailable: creating the job is a POST, which is not retried)."""
        index = self.clicked
        self.clicked += 1
        run, spec = self.runs[index], self.runs[index].spec
        built = self.built
        assets = [built.asset_ids[i] for i in spec.assets]
        collections = [built.collection_ids[i] for i in spec.collections]
        searches = [built.search_ids[i] for i in spec.searches]
        run.selection = reach(self.state, assets, collections, searches)
        for asset_id in run.selection:
            run.originals[asset_id] = set(self.on_lucidlink(asset_id, spec.formats))
        if spec.operation == "remove":
            self.watch.formats.update(spec.formats)
        body = json.dumps({"context": "BULK", "asset_ids": assets, "collection_ids": collections,
                           "saved_search_ids": searches, "auth_token": self.sb.token}).encode()
        query = {"b2_storage_id": built.b2_storage_id, "ll_storage_id": built.ll_storage_id,
                 "formats": ",".join(spec.formats)}
        token = _acting.set(index)
        try:
            with self._sharding(len(collections) + len(searches)):
                for _ in range(CLICKS):
                    answer = self.plugin.handle(Request(
                        "POST", f"/{spec.operation}", {"x-bz-secret": SECRET}, query,
                        io.BytesIO(body).read, len(body)))
                    run.answer = answer.status
                    if answer.status == 200:
                        run.job_id = answer.body["job_id"]
                        break
        finally:
            _acting.reset(token)
        self.stats[f"actions: {spec.operation}"] += 1

    @contextlib.contextmanager
    def _sharding(self, roots: int) -> Iterator[None]:
        room = self.scenario.tuning.shard_room
        saved = plan.SHARD_BYTES
        if room is not None:
            plan.SHARD_BYTES = plan.ID_BYTES * (roots + room)
        try:
            yield
        finally:
            plan.SHARD_BYTES = saved

    # -- interposed events ---------------------------------------------------------------------
    def _interpose(self, index: int) -> None:
        for at, kind, arg in self.scenario.events:
            if at != index:
                continue
            done = self._event(kind, arg)
            if done:
                self.stats[f"interposed: {kind}"] += 1

    def _event(self, kind: str, arg: int) -> bool:
        if kind in ("step", "land"):
            # A step takes time: what falls due while it runs may run meanwhile, elsewhere.
            soon = [i for i in self.pending if i.due <= self.now + STEP_SECONDS
                    and (i.step is not None) == (kind == "step")]
            if not soon:
                return False
            item = soon[arg % len(soon)]
            self.pending.remove(item)
            self.now = max(self.now, item.due)
            self.run_item(item)
            return True
        if kind == "click":
            if self.clicked >= len(self.runs):
                return False
            self.click()
            return True
        storage = self.built.ll_storage_id if kind == "delete_ll" else self.built.b2_storage_id
        with self.state.lock:
            sets = [fs for fs in self.state.file_sets.values()
                    if fs["storage_id"] == storage and fs["status"] == "ACTIVE"]
            if not sets:
                return False
            fs = sets[arg % len(sets)]
            (self.touched_b2 if kind == "delete_b2" else self.touched_ll).add(fs["asset_id"])
            self.state.delete_file_set(fs["asset_id"], fs["id"], immediately=arg % 2 == 0)
        return True

    # -- the sandbox's side --------------------------------------------------------------------
    def _faults(self) -> None:
        plan_ = self.scenario.faults
        ids = self.built.asset_ids
        faults = self.sb.faults
        faults.configure(seed=len(self.scenario.events), latency=plan_.latency,
                         error_rate=plan_.storm)
        for method, path, status, count in plan_.fail_next:
            faults.fail_next(method, path, status, count)
        faults.copy_fail = [ids[i] for i in plan_.copy_fail] or None
        faults.copy_wrong_size = [ids[i] for i in plan_.copy_wrong_size] or None
        faults.copy_stays_open = [ids[i] for i in plan_.copy_stays_open] or None

    def _schedule_copy(self, parent_id: str, parts: list[Any], missing: list[str]) -> None:
        """A copy job iconik accepted: its work becomes an item due a few fake seconds later."""
        delays = self.scenario.copy_delays
        delay = delays[self.copy_count % len(delays)]
        self.copy_count += 1
        self.add(Item(self.now + delay, "copy job",
                      run=partial(self.sb.copies.run_now, parent_id, parts, missing)))

    def _close(self, asset_id: str, file_set_id: str) -> None:
        if file_set_id in self.state.file_sets:
            close_uploads(self.state, file_set_id)

    # -- after the run -------------------------------------------------------------------------
    def unstable(self, lying_counts: bool = False) -> set[str]:
        """Assets whose outcome depends on timing no action can control: copies that fail or
        hang by a fault, uploads that close late, file sets deleted by hand; with
        ``lying_counts``, also those with a listing that claims more files than exist."""
        ids = self.built.asset_ids
        out = {ids[i] for i in self.scenario.faults.copy_faulted()}
        out |= self.touched_b2 | self.touched_ll
        out |= {asset_id for _, asset_id, _ in self.built.closings}
        if lying_counts:
            out |= self.built.lying
        return out

    def terminal_patches(self, job_id: str) -> int:
        """How many final statuses iconik accepted for the job (an end is written once)."""
        return sum(
            1 for r in self.sb.requests.filter("PATCH", f"/API/jobs/v1/jobs/{job_id}/$")
            if r.status < 300 and isinstance(r.body, dict)
            and r.body.get("status") in TERMINAL
        )

    def count_faults(self) -> None:
        """Add what the sandbox answered with faults to the example's figures."""
        for r in self.sb.requests:
            if r.status == 429 or r.status >= 500:
                self.stats[f"iconik answered {r.status}"] += 1
        self.stats["requests"] += self.sent
        self.stats["deletes by the plugin"] += len(self.watch.deleted)
