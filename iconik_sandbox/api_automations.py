"""The Automations service routes (``/API/automations/v1``): automations, their runs and their
history, each behind the role iconik's spec names for it (403 without it)."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify, request

from iconik_sandbox.automations import Automations
from iconik_sandbox.errors import BadRequest
from iconik_sandbox.paging import by_page
from iconik_sandbox.routing import api_route, body, caller_user_id, ctx, require_role

bp = Blueprint("automations", __name__)
S = "automations"
ONE = "/v1/automations/{automation_id}/"
HISTORY = ONE + "history/{object_type}/{object_id}/{version_id}/"


def _engine(role: str) -> Automations:
    """The engine, once the caller is known to carry ``role``."""
    require_role(role)
    return ctx().automations


def _object() -> dict[str, Any]:
    data = body()
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    return data


@api_route(bp, S, "/v1/automations/", ["GET"])
def list_automations() -> Any:
    engine = _engine("can_read_automations")
    with engine.state.lock:
        return jsonify(by_page(engine.all(), ctx().per_page_cap, copy.deepcopy))


@api_route(bp, S, "/v1/automations/", ["POST"])
def create_automation() -> Any:
    engine = _engine("can_write_automations")
    with engine.state.lock:
        return jsonify(copy.deepcopy(engine.create(_object(), caller_user_id()))), 201


@api_route(bp, S, ONE, ["GET"])
def get_automation(automation_id: str) -> Any:
    engine = _engine("can_read_automations")
    with engine.state.lock:
        return jsonify(copy.deepcopy(engine.get(automation_id)))


@api_route(bp, S, ONE, ["PUT", "PATCH"])
def update_automation(automation_id: str) -> Any:
    engine = _engine("can_write_automations")
    replace = request.method == "PUT"
    with engine.state.lock:
        record = engine.update(automation_id, _object(), caller_user_id(), replace=replace)
        return jsonify(copy.deepcopy(record))


@api_route(bp, S, ONE, ["DELETE"])
def delete_automation(automation_id: str) -> Any:
    _engine("can_delete_automations").delete(automation_id)
    return "", 204


@api_route(bp, S, ONE + "runs/estimate/", ["GET"])
def estimate_run(automation_id: str) -> Any:
    return jsonify(_engine("can_run_automations").estimate(automation_id))


@api_route(bp, S, ONE + "runs/", ["POST"])
def start_run(automation_id: str) -> Any:
    """202 at once: the requests go out on the sandbox's delivery pool."""
    _engine("can_run_automations").run(automation_id)
    return "", 202


@api_route(bp, S, ONE + "history/", ["POST"])
def add_history(automation_id: str) -> Any:
    engine = _engine("can_write_automations")
    with engine.state.lock:
        return jsonify(copy.deepcopy(engine.add_history(automation_id, _object()))), 201


@api_route(bp, S, HISTORY, ["GET"])
def get_history(automation_id: str, object_type: str, object_id: str, version_id: str) -> Any:
    engine = _engine("can_read_automations")
    with engine.state.lock:
        key = (automation_id, object_type, object_id, version_id)
        return jsonify(copy.deepcopy(engine.history_of(key)))


@api_route(bp, S, HISTORY, ["DELETE"])
def delete_history(automation_id: str, object_type: str, object_id: str, version_id: str) -> Any:
    """Role as the spec says: can_read_automations (sic)."""
    engine = _engine("can_read_automations")
    engine.delete_history((automation_id, object_type, object_id, version_id))
    return "", 204
