"""Steps (b2_iconik.rules.steps): frozen values that round-trip through JSON, with stable names."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from b2_iconik.engine.cloud_tasks import MAX_TASK_BODY
from b2_iconik.rules.payload import ActionOptions, CustomAction
from b2_iconik.rules.steps import CHUNK, END, EXPAND, KINDS, WATCH, WATCHDOG, CopyRequest, Step

TOKEN = "user-token-5a5a5a5a5a5a5a5a"
B2 = "22222222-2222-2222-2222-222222222222"
LL = "33333333-3333-3333-3333-333333333333"
A1 = "a1a1a1a1-0000-4000-8000-000000000001"
A2 = "a2a2a2a2-0000-4000-8000-000000000002"
A3 = "a3a3a3a3-0000-4000-8000-000000000003"
C1 = "c1c1c1c1-0000-4000-8000-000000000001"
S1 = "5e5e5e5e-0000-4000-8000-000000000001"
JOB = "10b10b10-0000-4000-8000-000000000001"
COPY_JOB = "10b10b10-0000-4000-8000-000000000002"

OPTIONS = ActionOptions(B2, LL, ("ORIGINAL", "PPRO_PROXY"), dry_run=True)
SELECTION = CustomAction(
    context="BULK",
    asset_ids=(A1, A2),
    collection_ids=(C1,),
    saved_search_ids=(S1,),
    auth_token=TOKEN,
    user_id="u-1",
    action_id="act-1",
    system_domain_id="dom-1",
)


def full_step() -> Step:
    return Step(
        operation="remove",
        job_id=JOB,
        options=OPTIONS,
        auth_token=TOKEN,
        token_expires=1_700_003_600.0,
        kind=CHUNK,
        shard=1,
        shards=3,
        chunk=2,
        unit_job_id=COPY_JOB,
        seq=4,
        selection=SELECTION,
        phase=WATCH,
        remaining=(A1, A2),
        waiting=(A3,),
        done=4,
        failures=((A3, "B2 copy failed"), (A2, "files differ: size")),
        total=7,
        round=2,
        deadline=1_700_000_000.5,
        not_before=1_700_000_015.25,
        copies=(CopyRequest(COPY_JOB, "ORIGINAL"), CopyRequest(JOB, "PPRO_PROXY")),
        copy_counts=((A1, 2), (A3, 1)),
        attempt=3,
        trace="4bf92f3577b34da6a3ce929d0e0e4736",
    )


def test_round_trip_full_step() -> None:
    step = full_step()
    again = Step.from_json(step.to_json())
    assert again == step
    assert isinstance(again.options, ActionOptions)
    assert isinstance(again.selection, CustomAction)
    assert all(isinstance(c, CopyRequest) for c in again.copies)
    assert isinstance(again.failures[0], tuple)
    assert isinstance(again.copy_counts[0], tuple)
    assert isinstance(again.options.formats, tuple)


def test_round_trip_from_bytes() -> None:
    step = full_step()
    assert Step.from_json(step.to_json().encode()) == step


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_minimal_step(kind: str) -> None:
    step = Step("add", JOB, ActionOptions(B2, LL, ("ORIGINAL",)), TOKEN, kind=kind)
    again = Step.from_json(step.to_json())
    assert again == step
    assert again.selection is None


def test_round_trip_is_stable() -> None:
    text = full_step().to_json()
    assert Step.from_json(text).to_json() == text


def test_json_is_plain_json() -> None:
    data = json.loads(full_step().to_json())
    assert data["options"]["formats"] == ["ORIGINAL", "PPRO_PROXY"]
    assert data["copies"][0] == {"job_id": COPY_JOB, "format_name": "ORIGINAL"}


def test_unknown_fields_are_ignored() -> None:
    data = json.loads(full_step().to_json())
    data["added_in_a_later_version"] = 1
    assert Step.from_json(json.dumps(data)) == full_step()


def test_auth_token_not_in_repr() -> None:
    step = full_step()
    assert TOKEN not in repr(step)
    assert TOKEN not in str(step)
    assert JOB in repr(step)


def test_next_moves_seq_on_and_resets_attempt() -> None:
    step = full_step()
    following = step.next(phase="", done=5)
    assert (following.seq, following.done, following.attempt) == (5, 5, 0)
    assert following.remaining == step.remaining
    assert step.seq == 4  # frozen: the original is unchanged
    with pytest.raises(AttributeError):
        step.done = 9  # type: ignore[misc]


def test_a_retry_keeps_seq_and_gets_a_new_name() -> None:
    step = full_step()
    again = step.retry(not_before=5.0)
    assert (again.seq, again.attempt, again.not_before) == (4, 4, 5.0)
    assert again.task_id() != step.task_id()


def test_names_are_stable_and_tell_steps_apart() -> None:
    step = full_step()
    assert step.task_id() == Step.from_json(step.to_json()).task_id()
    assert step.task_id() == full_step().task_id()
    others = {
        replace(step, seq=5).task_id(),
        replace(step, chunk=3).task_id(),
        replace(step, shard=0).task_id(),
        replace(step, job_id=COPY_JOB).task_id(),
        replace(step, kind=END).task_id(),
    }
    assert step.task_id() not in others and len(others) == 5
    name = step.task_id()
    assert name.split("-")[1:] == ["remove", "s1c2", "4", "3"]
    assert all(ch.isalnum() or ch in "-_" for ch in name) and len(name) <= 500


def test_units_name_the_chain_a_step_belongs_to() -> None:
    base = Step("add", JOB, OPTIONS, TOKEN, shard=2, chunk=7)
    assert [replace(base, kind=k).unit for k in (EXPAND, CHUNK, END, WATCHDOG)] == [
        "x2", "s2c7", "end", "watchdog"]
    assert base.report_job_id == JOB
    assert replace(base, unit_job_id=COPY_JOB).report_job_id == COPY_JOB


@pytest.mark.parametrize("text", ["[]", '{"operation": "remove"}', "not json",
                                  '{"operation": "nope", "job_id": "j", "options": '
                                  '{"b2_storage_id": "b", "ll_storage_id": "l", "formats": []},'
                                  ' "auth_token": "t"}'])
def test_what_is_not_a_step_is_refused(text: str) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        Step.from_json(text)


def test_the_largest_chunk_step_fits_in_a_task() -> None:
    """A chunk whose every asset is still to do, waiting, failed with the longest reason and
    asked to be copied three times, still fits in a task: reasons past the first twenty are
    counted, not kept."""
    from b2_iconik.rules import add, remove
    from b2_iconik.rules.steps import MAX_REASON, add_failures

    for operation, size in (("add", add.CHUNK), ("remove", remove.CHUNK)):
        chunk = tuple(f"{n:08x}-0000-4000-8000-{n:012x}" for n in range(size))
        step = replace(
            full_step(),
            operation=operation,
            remaining=chunk,
            waiting=chunk,
            failures=add_failures((), ((a, "x" * 2 * MAX_REASON) for a in chunk)),
            copy_counts=tuple((a, 3) for a in chunk) if operation == "remove" else (),
            total=size,
            selection=None,
        )
        assert len(step.to_json().encode()) < MAX_TASK_BODY * 0.8, size
        assert len(step.failures) == size and len(step.failed_assets()) == size


def test_failures_past_the_named_ones_keep_their_asset_not_their_reason() -> None:
    from b2_iconik.rules.steps import MAX_REASON, NAMED, add_failures

    failures = add_failures((("a0", "first"),), ((f"a{n}", "y" * 500) for n in range(1, 30)))
    assert failures[0] == ("a0", "first")
    assert all(len(why) == MAX_REASON for _, why in failures[1:NAMED])
    assert all(why == "" for _, why in failures[NAMED:])
    assert [a for a, _ in failures] == [f"a{n}" for n in range(30)]
