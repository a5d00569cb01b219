"""The admin API under ``/_sandbox/``, for driving a sandbox from another process (``make demo``,
a shell, a benchmark). No authentication, so it answers loopback clients only."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify, request

from iconik_sandbox.routing import ctx, error
from iconik_sandbox.seed import Catalogue, seed

bp = Blueprint("admin", __name__, url_prefix="/_sandbox")


@bp.get("/state")
def state() -> Any:
    """Everything in the catalogue, automations included."""
    c = ctx()
    with c.state.lock:
        automations = copy.deepcopy(c.automations.all())
        return jsonify({**c.state.snapshot(), "automations": automations})


@bp.get("/requests")
def requests_log() -> Any:
    """Every recorded request (``?path_regex=`` and ``?method=`` filter them)."""
    log = ctx().requests
    method, regex = request.args.get("method"), request.args.get("path_regex")
    items = [r.to_dict() for r in log.filter(method, regex)]
    return jsonify({"objects": items, "total": len(items), "max_rate_1s": log.max_rate()})


@bp.delete("/requests")
def clear_requests() -> Any:
    """Forget the recorded requests (and spec violations)."""
    c = ctx()
    c.requests.clear()
    with c.lock:
        c.spec_violations.clear()
    return "", 204


@bp.get("/faults")
def get_faults() -> Any:
    """The faults in effect."""
    return jsonify(ctx().faults.describe())


@bp.post("/faults")
def set_faults() -> Any:
    """Set faults from a JSON object (``{"clear": true}`` first turns everything off)."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        return error(400, "body: give a JSON object of faults")
    faults = ctx().faults
    if data.pop("clear", False):
        faults.clear()
    try:
        faults.configure(**data)
    except (TypeError, ValueError) as exc:
        return error(400, str(exc))
    return jsonify(faults.describe())


@bp.post("/seed")
def seed_catalogue() -> Any:
    """Seed a catalogue from a JSON ``Catalogue`` spec; answers the ids (``SeedResult``)."""
    data = request.get_json(force=True, silent=True)
    try:
        catalogue = Catalogue.from_dict(data if isinstance(data, dict) else {})
        result = seed(ctx().state, catalogue)
    except (TypeError, ValueError) as exc:
        return error(400, str(exc))
    return jsonify(result.to_dict()), 201


@bp.post("/reset")
def reset() -> Any:
    """Empty the catalogue, automations, records and faults; the clock and the delivery shapes
    go back to their defaults (credentials stay)."""
    c = ctx()
    c.automations.deliveries.reset()
    c.state.reset()
    c.automations.reset()
    c.faults.clear()
    c.requests.clear()
    with c.lock:
        c.spec_violations.clear()
    return "", 204


@bp.get("/spec_violations")
def spec_violations() -> Any:
    """Request bodies that did not match iconik's spec."""
    c = ctx()
    with c.lock:
        return jsonify({"objects": list(c.spec_violations)})


@bp.post("/tokens")
def add_token() -> Any:
    """Register another ``{"app_id": ..., "token": ...}`` pair (``"lifetime"``: seconds,
    ``"user_id"``: whose, ``"without_roles"``: roles it lacks, e.g. ``can_run_automations``)."""
    data = request.get_json(force=True, silent=True) or {}
    if not data.get("app_id") or not data.get("token"):
        return error(400, "give app_id and token")
    lifetime = data.get("lifetime")
    if lifetime is not None and not isinstance(lifetime, int | float):
        return error(400, "lifetime: give seconds")
    without = data.get("without_roles", [])
    if not isinstance(without, list) or not all(isinstance(r, str) for r in without):
        return error(400, "without_roles: give a list of role names")
    tokens = ctx().tokens
    tokens.add(
        data["app_id"], data["token"], lifetime, user_id=data.get("user_id"), without_roles=without
    )
    return "", 204


@bp.post("/complete_open_copies")
def complete_open_copies() -> Any:
    """Let copies held OPEN by the ``copy_stays_open`` fault finish."""
    return jsonify({"completed": ctx().state.complete_open_copies()})


@bp.post("/custom_actions/<action_id>/failing")
def mark_failing(action_id: str) -> Any:
    """Mark a custom action FAILING with ``{"error": ...}`` as ``last_error``."""
    data = request.get_json(force=True, silent=True) or {}
    c = ctx()
    if action_id not in c.state.custom_actions:
        return error(404, "Custom action does not exist")
    return jsonify(c.state.mark_action_failing(action_id, data.get("error", "Request failed")))
