"""Steps (b2_iconik.steps): frozen values that round-trip through JSON unchanged."""

from __future__ import annotations

import json

import pytest

from b2_iconik.payload import ActionOptions, CustomAction
from b2_iconik.steps import EXPAND, PROCESS, WATCH, CopyRequest, Step

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
        selection=SELECTION,
        stage=PROCESS,
        remaining=(A1, A2),
        waiting=(A3,),
        done=4,
        failures=((A3, "B2 copy failed"), (A2, "files differ: size")),
        total=7,
        round=2,
        deadline=1_700_000_000.5,
        not_before=1_700_000_015.25,
        copies=(
            CopyRequest(COPY_JOB, "ORIGINAL", (A1, A2)),
            CopyRequest(JOB, "PPRO_PROXY", (A3,)),
        ),
        copy_counts=((f"{A1}:ORIGINAL", 2), (f"{A3}:PPRO_PROXY", 1)),
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
    assert isinstance(again.copies[0].asset_ids, tuple)


def test_round_trip_from_bytes() -> None:
    step = full_step()
    assert Step.from_json(step.to_json().encode()) == step


@pytest.mark.parametrize("stage", [EXPAND, PROCESS, WATCH])
def test_round_trip_minimal_step(stage: str) -> None:
    step = Step("add", JOB, ActionOptions(B2, LL, ("ORIGINAL",)), TOKEN, stage=stage)
    again = Step.from_json(step.to_json())
    assert again == step
    assert again.selection is None


def test_round_trip_is_stable() -> None:
    text = full_step().to_json()
    assert Step.from_json(text).to_json() == text


def test_json_is_plain_json() -> None:
    data = json.loads(full_step().to_json())
    assert data["options"]["formats"] == ["ORIGINAL", "PPRO_PROXY"]
    assert data["copies"][0] == {
        "job_id": COPY_JOB,
        "format_name": "ORIGINAL",
        "asset_ids": [A1, A2],
    }


def test_unknown_fields_are_ignored() -> None:
    data = json.loads(full_step().to_json())
    data["added_in_a_later_version"] = 1
    assert Step.from_json(json.dumps(data)) == full_step()


def test_auth_token_not_in_repr() -> None:
    step = full_step()
    assert TOKEN not in repr(step)
    assert TOKEN not in str(step)
    assert JOB in repr(step)


def test_next_changes_fields_and_resets_attempt() -> None:
    step = full_step()
    following = step.next(stage=WATCH, done=5)
    assert (following.stage, following.done, following.attempt) == (WATCH, 5, 0)
    assert following.remaining == step.remaining
    assert step.stage == PROCESS  # frozen: the original is unchanged
    with pytest.raises(AttributeError):
        step.done = 9  # type: ignore[misc]
