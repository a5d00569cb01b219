"""Jobs an in-process run left behind: found by the next action and ended FAILED."""

from __future__ import annotations

from typing import Any

from b2_iconik.base.errors import IconikUnavailable
from b2_iconik.engine import stale
from b2_iconik.rules import jobs
from tests.fakes import FakeIconik

NOW = 1_800_000_000.0
OLD = "2027-01-15T07:40:00+00:00"  # NOW - 1,200 s: older than the 900 s of staleness
RECENT = "2027-01-15T07:58:00+00:00"  # NOW - 120 s


def job(fake: FakeIconik, modified: str, **fields: Any) -> str:
    meta = {"runner": jobs.IN_PROCESS, **fields.pop("metadata", {})}
    job_id = fake.create_job({"title": "t", "type": "CUSTOM", "custom_type": jobs.CUSTOM_TYPE,
                              "status": "STARTED", "metadata": meta, **fields})
    fake.jobs[job_id]["date_modified"] = modified
    return job_id


def test_dates_are_read_as_epoch_seconds():
    assert stale.modified({"date_modified": OLD}) == NOW - 1_200
    assert stale.modified({"date_modified": "2027-01-15T07:40:00"}) == NOW - 1_200  # naive: UTC
    assert stale.modified({}) == 0.0 and stale.modified({"date_modified": "soon"}) == 0.0


def test_an_untouched_in_process_job_is_ended_interrupted_with_its_parts():
    fake = FakeIconik()
    lost = job(fake, OLD)
    part = fake.create_job({"title": "part", "status": "STARTED", "parent_id": lost})
    ended = fake.create_job({"title": "part", "status": "FINISHED", "parent_id": lost})
    assert stale.sweep(fake, "the-new-job", 900, NOW) == 1
    for job_id in (lost, part):
        assert fake.jobs[job_id]["status"] == "FAILED"
        assert fake.jobs[job_id]["message"].startswith("Interrupted: the plugin stopped")
    assert fake.statuses(ended) == []


def test_live_jobs_and_jobs_not_ours_to_judge_are_left_alone():
    fake = FakeIconik()
    kept = [
        job(fake, RECENT),  # touched recently: alive (its steps, or the heartbeat)
        job(fake, OLD, metadata={"runner": jobs.CLOUD_TASKS}),  # its own watchdog judges it
        job(fake, OLD, custom_type="someone else's"),
        job(fake, OLD, parent_id="a-parent"),  # a part: ended with its action
    ]
    current = job(fake, OLD)
    assert stale.sweep(fake, current, 900, NOW) == 0
    assert all(fake.jobs[j]["status"] == "STARTED" for j in [*kept, current])


def test_a_failure_to_look_never_stops_the_new_action():
    fake = FakeIconik()

    def unreachable() -> list:
        raise IconikUnavailable("no answer")

    fake.started_jobs = unreachable  # type: ignore[method-assign]
    assert stale.sweep(fake, "new", 900, NOW) == 0


def test_an_instance_sweeps_at_its_first_action_then_a_third_of_the_staleness_apart():
    sweeper = stale.Sweeper(900)
    assert sweeper.due(NOW)
    assert not sweeper.due(NOW + 299)
    assert sweeper.due(NOW + 300)
