"""Property-based no-loss tests (issue 12): random catalogues, faults and interleavings.

Each example builds a random catalogue in the sandbox, clicks one or two actions on overlapping
selections (the first a Remove), injects a random fault schedule, and runs every step of the
plugin in an order hypothesis chooses, with requests of one step interleaved with whole steps of
the other action, users deleting file sets by hand, copies landing, steps delivered twice and
processes dying mid-step. See ``tests/properties/`` for how. After each example:

1. **Safety.** No LucidLink file set was deleted unless, at that moment, B2 held a verified copy
   (an independent check of the rule sits on the sandbox's delete), no other storage was touched,
   and no format was deleted that no action asked for.
2. **Ended once.** Every action's job ended exactly once (one final status accepted by iconik),
   in a terminal status, and so did each of its parts; none needed the watchdog, none failed on
   an internal error, and each counted the assets its selection reaches.
3. **True reports.** A Remove's message names every asset it left on LucidLink and none it found
   removed (judged from what the answers it got last showed of each file set); an Add's message
   names the assets it could not copy and none it copied (where nothing else touched them).
4. **Liveness.** When the faults were only transient, no LucidLink file set that was there at
   the click and can be verified is left behind by a Remove that selected it. Left out: assets
   whose state changed in ways no Remove can wait for (an upload closing late, a B2 copy
   deleted by hand, a listing claiming more files than exist, which the plugin rightly never
   verifies).

The sandbox here does not check request bodies against iconik's spec (the end-to-end tests do):
that check costs more than the rest of a request, and these tests send tens of thousands.

``make test`` runs a few hundred examples, the same ones every time (``derandomize``);
``B2_ICONIK_LONG=1`` runs thousands, ``B2_ICONIK_PROPS_EXAMPLES=N`` N of them;
``B2_ICONIK_PROPS_REPORT=file.json`` writes the figures of the run.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b2_iconik.rules import jobs, remove
from b2_iconik.rules.verification import AssetCheck, FileSetCheck, Verdict
from iconik_sandbox import Sandbox, api_files
from tests.properties.catalogue import CatalogueSpec, FileSpec, SetSpec
from tests.properties.items import CLICKS, TERMINAL, tuned
from tests.properties.oracle import DeleteGuard, removable
from tests.properties.scenario import ActionSpec, FaultPlan, Scenario, Tuning, scenarios
from tests.properties.world import World

LONG = os.environ.get("B2_ICONIK_LONG") == "1"
settings.register_profile(
    "b2-iconik-props",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
settings.register_profile("b2-iconik-props-long", parent=settings.get_profile("b2-iconik-props"),
                          max_examples=4000)
PROFILE = settings.get_profile("b2-iconik-props-long" if LONG else "b2-iconik-props")
if os.environ.get("B2_ICONIK_PROPS_EXAMPLES"):  # any other number, e.g. to reproduce quickly
    PROFILE = settings(PROFILE, max_examples=int(os.environ["B2_ICONIK_PROPS_EXAMPLES"]))
STOPPED = "the work stopped and did not resume"


class _Crashes(logging.Handler):
    """Collects the sandbox's own crashes: a 500 it did not mean must not pass for a fault."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@dataclass
class Rig:
    """One sandbox for the module, reset between examples; the figures of the whole run."""

    sb: Sandbox
    guard: DeleteGuard
    listed_counts: dict[str, int]
    crashes: _Crashes
    stats: Counter[str] = field(default_factory=Counter)

    def world(self, scenario: Scenario, draw: Callable[[Any], Any]) -> World:
        self.sb.reset()
        self.sb.state.seeded_ids(random.Random(0))  # the same ids, so the same listing order
        self.crashes.records.clear()
        return World(self.sb, self.guard, scenario, draw, self.listed_counts)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    listed: dict[str, int] = {}
    original = api_files.file_set_view

    def view(state: Any, record: dict[str, Any], file_count: bool = False) -> dict[str, Any]:
        """iconik's file set, with the ``file_count`` the example says its listing answers."""
        out = original(state, record, file_count)
        if file_count and record["id"] in listed:
            out["file_count"] = listed[record["id"]]
        return out

    crashes = _Crashes()
    sandbox_log = logging.getLogger("iconik_sandbox")
    sandbox_log.addHandler(crashes)
    with pytest.MonkeyPatch.context() as patch, Sandbox(validate=False, token_lifetime=None) as sb:
        patch.setattr(api_files, "file_set_view", view)
        rig = Rig(sb, DeleteGuard(sb.state), listed, crashes)
        yield rig
    sandbox_log.removeHandler(crashes)
    report = os.environ.get("B2_ICONIK_PROPS_REPORT")
    if report:
        with open(report, "w") as out:
            json.dump(dict(sorted(rig.stats.items())), out, indent=1)


# -- the properties -------------------------------------------------------------------------------


def named(asset_id: str, message: str) -> bool:
    """Whether a job message names the asset: "title (id): why" or, untitled, "id: why"."""
    return f"({asset_id})" in message or f"{asset_id}: " in message


def problems_of(world: World) -> list[str]:
    """Every property the example broke, in words (empty: all held)."""
    state, scenario = world.state, world.scenario
    problems = list(world.watch.violations)
    problems += [f"the sandbox crashed: {c}" for c in world.rig_crashes]
    removes = [run for run in world.runs if run.spec.operation == "remove"]
    in_removes = set().union(*(run.selection for run in removes))
    for index, run in enumerate(world.runs):
        what = f"action {index} ({run.spec.operation} {','.join(run.spec.formats)})"
        if run.job_id is None:
            if scenario.faults.transient:
                problems.append(f"{what}: the click was refused {CLICKS} times ({run.answer})")
            continue
        job = state.job(run.job_id)
        message = str(job.get("message") or "")
        ends = world.terminal_patches(run.job_id)
        if ends != 1 or job["status"] not in TERMINAL:
            problems.append(f"{what}: {ends} final statuses written; now {job['status']}")
        if STOPPED in message:
            problems.append(f"{what}: only the watchdog ended it: {message}")
        if "internal error" in message:
            problems.append(f"{what}: the plugin failed on an internal error: {message}")
        for part in state.jobs(parent_id=run.job_id):
            if part.get("custom_type") == jobs.CUSTOM_TYPE and part["status"] not in TERMINAL:
                problems.append(f"{what}: its part {part['title']!r} never ended")
        listed = "the selection" not in message and "selection part" not in message
        if listed and job.get("progress_total") != len(run.selection):
            problems.append(f"{what}: counted {job.get('progress_total')} assets, "
                            f"its selection reaches {len(run.selection)}: {message}")
        names = {a for a in run.selection if named(a, message)}
        if run.spec.operation == "remove":
            kept = {a for a, sets in run.seen.items() if any(sets.values())}
            removed = {a for a, sets in run.seen.items() if sets and not any(sets.values())}
            for asset in sorted(kept - names):
                problems.append(f"{what}: left {asset} on LucidLink without naming it: {message}")
            for asset in sorted(names & removed):
                problems.append(f"{what}: named {asset} although it was removed: {message}")
        elif not scenario.faults.storm:
            for asset in sorted(run.selection - in_removes - world.unstable()):
                copied = all(_complete_on_ll(world, asset, f) for f in run.spec.formats)
                if copied and asset in names:
                    problems.append(f"{what}: named {asset} although it was copied: {message}")
                if not copied and asset not in names:
                    problems.append(f"{what}: did not copy {asset} and did not say so: {message}")
    if scenario.faults.transient:
        problems += _left_behind(world, removes)
    return problems


def _complete_on_ll(world: World, asset_id: str, format_name: str) -> bool:
    """An ACTIVE LucidLink file set of the format whose files are all CLOSED (a finished copy)."""
    state = world.state
    for fs in state.file_sets_of(asset_id, world.built.ll_storage_id, format_name=format_name):
        files = state.files_of(file_set_id=fs["id"])
        if files and all(f["status"] == "CLOSED" for f in files):
            return True
    return False


def _left_behind(world: World, removes: list[Any]) -> list[str]:
    """Liveness: verifiable LucidLink copies a Remove selected and left, faults being transient.

    Assets are left out whose state changed in ways no Remove can wait for: a listing that
    claims more files than exist (the plugin rightly never verifies a cut-short listing), an
    upload that closed late, or a B2 copy someone deleted by hand.
    """
    problems = []
    excluded = world.unstable(lying_counts=True)
    for run in removes:
        for asset in sorted(run.selection - excluded):
            for file_set_id in sorted(run.originals.get(asset, ())):
                fs = world.state.file_sets.get(file_set_id)
                if fs and fs["status"] == "ACTIVE" and removable(
                        world.state, fs, world.built.b2_storage_id):
                    problems.append(f"remove {','.join(run.spec.formats)}: left {asset}'s "
                                    f"verifiable LucidLink set {file_set_id}")
    return problems


@PROFILE
@given(scenario=scenarios(), data=st.data())
def test_no_loss_true_reports_and_progress_under_faults_and_interleavings(
    rig: Rig, scenario: Scenario, data: st.DataObject
) -> None:
    world = rig.world(scenario, data.draw)
    with tuned(scenario.tuning.remove_chunk, scenario.tuning.add_chunk):
        world.run()
    world.count_faults()
    world.rig_crashes = list(rig.crashes.records)
    rig.stats["examples"] += 1
    rig.stats.update(world.stats)
    problems = problems_of(world)
    assert not problems, "\n".join(problems)


# -- the properties can fail ----------------------------------------------------------------------

ONE_BAD_ASSET = Scenario(
    catalogue=CatalogueSpec(assets=(
        (SetSpec("ll", "ORIGINAL", (FileSpec(1024, "aa"),)),
         SetSpec("b2", "ORIGINAL", (FileSpec(1025, "ff"),))),
        (SetSpec("ll", "ORIGINAL", (FileSpec(2, None),)),
         SetSpec("b2", "ORIGINAL", (FileSpec(2, None),))),
    )),
    actions=(ActionSpec("remove", ("ORIGINAL",), (0, 1), (), ()),),
    faults=FaultPlan(), mode="direct", tuning=Tuning(), events=(), copy_delays=(1.0,),
)


def _run_fixed(rig: Rig, scenario: Scenario) -> list[str]:
    world = rig.world(scenario, lambda strategy: 0)
    with tuned(None, None):
        world.run()
    world.rig_crashes = list(rig.crashes.records)
    return problems_of(world)


def test_a_fixed_example_passes_as_it_is(rig: Rig) -> None:
    assert _run_fixed(rig, ONE_BAD_ASSET) == []


def test_the_safety_property_catches_a_rule_that_verifies_everything(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def reckless(asset_id: str, formats: Any, b2: str, ll: str, fmts: Any,
                 file_sets: list[dict[str, Any]], files: Any) -> AssetCheck:
        return AssetCheck(asset_id, tuple(
            FileSetCheck("ORIGINAL", fs["id"], Verdict.VERIFIED)
            for fs in file_sets if fs["storage_id"] == ll and fs["status"] == "ACTIVE"))

    monkeypatch.setattr(remove, "check_asset", reckless)
    problems = _run_fixed(rig, ONE_BAD_ASSET)
    assert any("deleted without a verified copy on B2" in p for p in problems), problems


def test_the_liveness_property_catches_a_rule_that_verifies_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = remove.check_asset

    def timid(*args: Any) -> AssetCheck:
        check = real(*args)
        return AssetCheck(check.asset_id, tuple(
            FileSetCheck(c.format_name, c.file_set_id, Verdict.PENDING, "timid")
            for c in check.checks))

    monkeypatch.setattr(remove, "check_asset", timid)
    problems = _run_fixed(rig, ONE_BAD_ASSET)
    assert any("verifiable LucidLink set" in p for p in problems), problems


def test_the_report_property_catches_a_message_that_names_no_one(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "failure_text", lambda failures, count=None, label="": "Failed.")
    problems = _run_fixed(rig, ONE_BAD_ASSET)
    assert any("without naming it" in p for p in problems), problems

