"""A queued step's journey, top to bottom: check who sent it, decode it, run it, answer.

Cloud Tasks delivers a step as a POST to the plugin's own …/add or …/remove with the marker header
(:data:`~b2_iconik.engine.cloud_tasks.STEP_HEADER`); the router sends such a request here only
where steps are queued. The answer's status tells Cloud Tasks whether to try again (DESIGN §3).
"""

from __future__ import annotations

import logging

from b2_iconik.auth.oidc import CannotVerify, Unauthenticated
from b2_iconik.auth.sealing import SealBroken
from b2_iconik.base.errors import PayloadError
from b2_iconik.base.logs import log_context, redact
from b2_iconik.edge.http import Request, Response, error, read_body, unauthorized
from b2_iconik.engine.cloud_tasks import LEASE, CloudTasksRunner, Delivery
from b2_iconik.rules.steps import Step

log = logging.getLogger(__name__)


def run_step(
    deliveries: CloudTasksRunner, request: Request, operation: str, marker: str
) -> Response:
    """Run one background step delivered by Cloud Tasks (its successors go to the queue).

    Only a deployment that queues its steps takes them, and only from the queue: with
    ``TASKS_SERVICE_ACCOUNT`` set, a step must carry Cloud Tasks' OIDC token for that account
    (the shared secret is not enough); the user's token in it must open (it is sealed).
    """
    try:
        deliveries.authenticate(request.headers)
    except Unauthenticated as refused:
        log.warning("refused a step request: %s", refused)
        return unauthorized(str(refused))
    except CannotVerify as problem:
        log.error("cannot check a step request: %s", problem)
        return error(503, "the step cannot be checked now", **{"Retry-After": "30"})
    if marker.strip().lower() == LEASE:
        return Response(200, {"message": "a lease: nothing to do"})
    try:
        step = Step.from_json(read_body(request))
    except (ValueError, KeyError, TypeError, RecursionError):
        raise PayloadError("body", "is not a background step") from None
    if step.operation != operation:
        raise PayloadError("body", f"is a {step.operation} step, sent to …/{operation}")
    try:
        step = deliveries.unseal(step)
    except SealBroken as broken:
        raise PayloadError("body", str(broken)) from None
    redact(step.auth_token)
    delivery = Delivery.from_headers(request.headers)
    with log_context(job_id=step.job_id, trace=step.trace):
        log.info("running a %s step (%s) from the queue, attempt %d", step.kind, step.unit,
                 delivery.retry_count + 1)
        done = deliveries.deliver(step, delivery)
    headers = {"Retry-After": str(done.retry_after)} if done.retry_after else {}
    body = {"job_id": step.job_id, "kind": step.kind, "message": done.message}
    return Response(done.status, body, headers)
