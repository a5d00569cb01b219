"""Remove from LucidLink: verify each asset's B2 copy, then delete its LucidLink copy.

Each CHUNK step handles one round of one chunk (a few hundred assets). Per asset it reads the
file sets (one call; an asset with nothing on LucidLink stops there), the formats and the files
(two more), applies the safety rule of :mod:`b2_iconik.rules.verification`, and deletes only the
LucidLink file sets the rule verified, right after reading them. Assets whose B2 copy is missing
or failed get a copy to B2 requested (one bulk call per format per round); unverified assets are
checked again in later rounds, with backoff, until they verify or the wait limit passes.
Whatever is still unverified then stays on LucidLink, untouched, and is reported.

A LucidLink copy that someone else deletes meanwhile (another action on an overlapping
selection, a person in iconik) counts as done once a fresh listing confirms it is gone.
"""

from __future__ import annotations

import contextvars
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from b2_iconik.base.errors import IconikError, is_transient
from b2_iconik.iconik.client import BULK_LIMIT, IconikClient
from b2_iconik.rules import jobs
from b2_iconik.rules.payload import ActionOptions
from b2_iconik.rules.steps import Round, Step, add_failures
from b2_iconik.rules.verification import AssetCheck, Verdict, check_asset

log = logging.getLogger(__name__)

#: Assets per chunk: a round of them stays far under any task deadline.
CHUNK = 250
#: Assets checked at once within a step (the instance-wide rate cap still applies).
PARALLEL = 8
#: How often one asset's copy to B2 is requested before the plugin stops asking.
MAX_COPY_REQUESTS = 3
#: Longest pause between two checks of the same waiting assets.
MAX_RECHECK_SECONDS = 300.0

DONE, WAIT, FAIL = "done", "wait", "fail"


@dataclass
class Outcome:
    """What happened to one asset in this round."""

    asset_id: str
    state: str
    reason: str = ""
    removed: int = 0
    copy_formats: list[str] = field(default_factory=list)


def run(client: IconikClient, step: Step, now: float, recheck_seconds: float) -> Round:
    """Check and remove this round's assets; say what follows."""
    outcomes = _check_all(client, step)
    copy_counts = _request_copies(client, step, outcomes)
    final = now >= step.deadline
    done, failures, waiting = step.done, [], list(step.waiting)
    for outcome in outcomes:
        if outcome.state == DONE:
            done += 1
        elif outcome.state == FAIL or final or step.options.dry_run:
            failures.append((outcome.asset_id, _final_reason(outcome, step)))
        else:
            waiting.append(outcome.asset_id)
    state = replace(
        step,
        remaining=(),
        waiting=tuple(waiting),
        done=done,
        failures=add_failures(step.failures, failures),
        copy_counts=copy_counts,
    )
    message = progress_text(state)
    if not state.waiting:
        return Round(state, None, message)
    delay = min(recheck_seconds * 2**state.round, MAX_RECHECK_SECONDS)
    delay = max(0.0, min(delay, state.deadline - now))
    following = state.next(
        remaining=state.waiting, waiting=(), round=state.round + 1, not_before=now + delay
    )
    return Round(state, following, message)


def _check_all(client: IconikClient, step: Step) -> list[Outcome]:
    assets = step.remaining
    with ThreadPoolExecutor(max_workers=min(PARALLEL, max(1, len(assets)))) as pool:
        # Each task runs in a copy of this thread's context, so its log lines keep the job id
        # and the trace (context variables do not cross into pool threads by themselves).
        futures = [
            pool.submit(contextvars.copy_context().run, check_and_remove, client, step, asset)
            for asset in assets
        ]
        return [future.result() for future in futures]


def check_and_remove(client: IconikClient, step: Step, asset_id: str) -> Outcome:
    """Apply the safety rule to one asset and delete what it verified (unless a dry run).

    An iconik error here concerns this asset only: a passing one makes it wait for the next
    round, a lasting one (403, 404...) fails it; the step goes on with the other assets.
    """
    options = step.options
    try:
        file_sets = client.asset_file_sets(asset_id)
        if not any(_on_lucidlink(s, options.ll_storage_id) for s in file_sets):
            return Outcome(asset_id, DONE)
        check = check_asset(
            asset_id,
            options.formats,
            options.b2_storage_id,
            options.ll_storage_id,
            client.asset_formats(asset_id),
            file_sets,
            client.asset_files(asset_id),
        )
        if check.with_verdict(Verdict.GONE):
            check = _confirm_gone(client, check, options)
    except IconikError as error:
        return Outcome(asset_id, _error_state(error), f"could not read its files: {error}")
    except Exception as error:  # unexpected data: this asset fails, the others go on
        log.exception("checking asset %s failed unexpectedly", asset_id)
        return Outcome(asset_id, FAIL, f"internal error: {type(error).__name__}: {error}")
    if options.dry_run:
        return _dry_run_outcome(check)
    removed, problems = _delete_verified(client, check)
    return _outcome(check, removed, problems)


def _confirm_gone(client: IconikClient, check: AssetCheck, options: ActionOptions) -> AssetCheck:
    """Read the file sets again: a LucidLink set that looked gone must really be gone."""
    still = {
        str(s.get("id"))
        for s in client.asset_file_sets(check.asset_id)
        if _on_lucidlink(s, options.ll_storage_id)
    }
    confirmed = check.confirm_gone(still)
    for gone in confirmed.with_verdict(Verdict.GONE):
        log.info(
            "LucidLink file set %s (%s) of asset %s was already deleted elsewhere",
            gone.file_set_id,
            gone.format_name,
            check.asset_id,
        )
    return confirmed


def _delete_verified(client: IconikClient, check: AssetCheck) -> tuple[int, list[str]]:
    """Delete each verified LucidLink file set; a failed delete waits for a re-run."""
    removed, problems = 0, []
    for verified in check.with_verdict(Verdict.VERIFIED):
        try:
            client.delete_file_set(check.asset_id, verified.file_set_id)
            removed += 1
            log.info(
                "deleted LucidLink file set %s (%s) of asset %s: B2 copy verified",
                verified.file_set_id,
                verified.format_name,
                check.asset_id,
            )
        except IconikError as error:
            problems.append(f"{verified.format_name}: delete failed, will retry: {error}")
    return removed, problems


def _outcome(check: AssetCheck, removed: int, problems: list[str]) -> Outcome:
    waiting = check.with_verdict(Verdict.PENDING, Verdict.COPY_NEEDED)
    mismatched = check.with_verdict(Verdict.MISMATCH)
    reasons = "; ".join([c.reason for c in waiting + mismatched] + problems)
    if waiting or problems:
        return Outcome(check.asset_id, WAIT, reasons, removed, check.formats_needing_copy())
    if mismatched:
        return Outcome(check.asset_id, FAIL, reasons, removed)
    return Outcome(check.asset_id, DONE, removed=removed)


def _dry_run_outcome(check: AssetCheck) -> Outcome:
    verified = check.with_verdict(Verdict.VERIFIED)
    others = [c for c in check.checks if c.verdict not in (Verdict.VERIFIED, Verdict.GONE)]
    if not others:
        return Outcome(check.asset_id, DONE, removed=len(verified))
    notes = []
    for c in others:
        action = " (would request a copy to B2)" if c.verdict is Verdict.COPY_NEEDED else ""
        notes.append(f"{c.reason}{action}")
    if verified:
        notes.append(f"would remove {len(verified)} verified file set(s)")
    return Outcome(check.asset_id, FAIL, "would keep: " + "; ".join(notes))


def _request_copies(
    client: IconikClient, step: Step, outcomes: list[Outcome]
) -> tuple[tuple[str, int], ...]:
    """One bulk copy to B2 per format for the round's assets that need one (not in dry runs).

    Each asset's copy is asked for at most MAX_COPY_REQUESTS times over all rounds; a round
    that runs twice asks iconik twice, which iconik ignores for copies already under way.
    """
    if step.options.dry_run:
        return step.copy_counts
    counts = dict(step.copy_counts)
    by_format: dict[str, list[str]] = {}
    for outcome in outcomes:
        if not outcome.copy_formats or counts.get(outcome.asset_id, 0) >= MAX_COPY_REQUESTS:
            continue
        counts[outcome.asset_id] = counts.get(outcome.asset_id, 0) + 1
        for format_name in outcome.copy_formats:
            by_format.setdefault(format_name, []).append(outcome.asset_id)
    for format_name, asset_ids in by_format.items():
        for start in range(0, len(asset_ids), BULK_LIMIT):
            batch = asset_ids[start : start + BULK_LIMIT]
            try:
                copy_job = client.bulk_copy(
                    step.options.b2_storage_id,
                    batch,
                    format_name,
                    source_id=step.options.ll_storage_id,
                )
                log.info(
                    "requested a copy to B2 of %s for %d assets (job %s)",
                    format_name,
                    len(batch),
                    copy_job,
                )
            except IconikError as error:
                log.warning("could not request a copy to B2 of %s: %s", format_name, error)
    return tuple(sorted(counts.items()))


def _final_reason(outcome: Outcome, step: Step) -> str:
    if outcome.state == WAIT and not step.options.dry_run:
        return f"B2 copy not verified in time, left on LucidLink ({outcome.reason})"
    return outcome.reason


def _error_state(error: IconikError) -> str:
    return WAIT if is_transient(error) else FAIL


def _on_lucidlink(file_set: dict[str, object], ll_storage_id: str) -> bool:
    return (
        str(file_set.get("storage_id", "")).lower() == ll_storage_id
        and file_set.get("status", "ACTIVE") == "ACTIVE"
    )


def progress_text(step: Step) -> str:
    """A chunk's progress in words."""
    verb = "Checked" if step.options.dry_run else "Removed"
    text = f"{verb} {step.done:,} of {jobs.assets_phrase(step.total)}"
    if step.waiting:
        text += f"; {len(step.waiting):,} waiting for a verified copy on B2"
    failed = len(step.failed_assets())
    if failed:
        text += f"; {failed:,} not handled"
    return text


def summary(options: ActionOptions, done: int, total: int) -> str:
    """The final words on a Remove (of an action or one of its parts)."""
    formats = ", ".join(options.formats)
    if options.dry_run:
        return (
            f"Dry run, nothing changed: {done:,} of {jobs.assets_phrase(total)} "
            f"({formats}) could be removed from LucidLink now."
        )
    return (
        f"Removed the LucidLink copies ({formats}) of {done:,} of "
        f"{jobs.assets_phrase(total)}; every removed file is verified on B2."
    )
