"""The admin API's automation calls, under ``/_sandbox/``: what tests in another process need to
drive iconik's Automation engine as the sandbox plays it (the request shape, events, the clock)
and to wait for and read what it sent. Loopback only, like the rest of the admin API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from iconik_sandbox.routing import ctx, error
from iconik_sandbox.state.tables import DAY_SECONDS, iso

bp = Blueprint("admin_automations", __name__, url_prefix="/_sandbox")
#: The longest a wait call holds its request.
MAX_WAIT_SECONDS = 60.0


def _json_object() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    return data if isinstance(data, dict) else {}


@bp.get("/automations/shape")
def get_shape() -> Any:
    """The request shapes, for events and for runs."""
    return jsonify(ctx().automations.deliveries.describe())


@bp.post("/automations/shape")
def set_shape() -> Any:
    """Set ``token`` (user|app|none), ``context`` (ASSET|BULK), ``batch_size`` for ``source``
    (events|runs; both when not given)."""
    data = _json_object()
    source = data.pop("source", None)
    try:
        return jsonify(ctx().automations.deliveries.set_shape(source, **data))
    except (TypeError, ValueError) as exc:
        return error(400, str(exc))


@bp.get("/automations/deliveries")
def deliveries() -> Any:
    """Every finished delivery (``?automation_id=`` filters) and how many are pending."""
    found = ctx().automations.deliveries
    automation_id = request.args.get("automation_id")
    items = [d for d in found.records() if automation_id in (None, d["automation_id"])]
    return jsonify({"objects": items, "total": len(items), "pending": found.pending})


@bp.get("/automations/deliveries/wait")
def wait_deliveries() -> Any:
    """Long-poll until no delivery is pending or ``?timeout=`` seconds (default 5) pass;
    answers ``{"idle", "pending"}`` (200 either way)."""
    try:
        timeout = min(float(request.args.get("timeout", "5")), MAX_WAIT_SECONDS)
    except ValueError:
        return error(400, "timeout: give seconds")
    found = ctx().automations.deliveries
    idle = found.wait_idle(timeout)
    return jsonify({"idle": idle, "pending": found.pending})


@bp.get("/automations/history")
def history() -> Any:
    """Every execution recorded (``?automation_id=`` filters)."""
    items = ctx().automations.history_list(request.args.get("automation_id"))
    return jsonify({"objects": items, "total": len(items)})


@bp.post("/assets/<asset_id>/approval")
def approve(asset_id: str) -> Any:
    """Set an asset's approval ``{"status": ...}`` (default APPROVED); a change is an event."""
    status = _json_object().get("status", "APPROVED")
    return jsonify(ctx().automations.set_approval(asset_id, str(status)))


@bp.post("/assets/<asset_id>/version")
def new_version(asset_id: str) -> Any:
    """Give an asset a new version (modified now): automations may run for it again."""
    return jsonify({"version_id": ctx().state.new_version(asset_id)})


@bp.post("/collections/<collection_id>/contents")
def add_contents(collection_id: str) -> Any:
    """Add ``{"asset_ids": [...]}`` to a collection; answers those that were not in it."""
    asset_ids = _json_object().get("asset_ids")
    if not isinstance(asset_ids, list) or not all(isinstance(i, str) for i in asset_ids):
        return error(400, "asset_ids: give a list of asset ids")
    return jsonify({"added": ctx().automations.add_to_collection(collection_id, *asset_ids)})


@bp.get("/clock")
def clock() -> Any:
    """The sandbox's time and how far it runs ahead of the wall clock."""
    state = ctx().state
    return jsonify({"now": iso(state.now()), "offset_days": state.clock_offset / DAY_SECONDS})


@bp.post("/clock")
def advance_clock() -> Any:
    """Move the clock ``{"days": N}`` forward (0: just check) and check the day-based triggers;
    answers the new time and how many executions started."""
    days = _json_object().get("days", 0)
    if not isinstance(days, int | float) or isinstance(days, bool):
        return error(400, "days: give a number")
    started = ctx().automations.advance_clock(days)
    return jsonify({"now": iso(ctx().state.now()), "started": started})
