"""The Assets service routes (``/API/assets/v1``): assets, collections, approvals, custom
actions."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify, request

from iconik_sandbox.errors import BadRequest
from iconik_sandbox.paging import by_page
from iconik_sandbox.routing import api_route, body, caller_user_id, ctx
from iconik_sandbox.state.tables import now_iso
from iconik_sandbox.views import asset_view, content_view

bp = Blueprint("assets", __name__)
S = "assets"


@api_route(bp, S, "/v1/assets/{asset_id}/", ["GET"])
def get_asset(asset_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        return jsonify(asset_view(c.state, c.state.asset(asset_id)))


@api_route(bp, S, "/v1/collections/{collection_id}/", ["GET"])
def get_collection(collection_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        return jsonify(copy.deepcopy(c.state.collection(collection_id)))


@api_route(bp, S, "/v1/collections/{collection_id}/contents/", ["GET"])
def collection_contents(collection_id: str) -> Any:
    """Direct children only, as iconik: sub-collections are listed, not entered."""
    c = ctx()
    kinds = {k.strip() for k in request.args.get("object_types", "").split(",") if k.strip()}
    if kinds - {"assets", "collections"}:
        raise BadRequest("object_types: only assets and collections are supported")
    with c.state.lock:
        c.state.collection(collection_id)
        items = [item for item in c.state.contents[collection_id] if not kinds or item[0] in kinds]
        return jsonify(by_page(items, c.per_page_cap, lambda i: content_view(c.state, i)))


@api_route(bp, S, "/v1/collections/{collection_id}/contents/", ["POST"])
def add_collection_content(collection_id: str) -> Any:
    """Add an asset to a collection (assets only); automations see it added."""
    data = body()
    _require(data, "object_id", "object_type")
    if data["object_type"] != "assets":
        raise BadRequest("object_type: the sandbox adds assets to collections, nothing else")
    c = ctx()
    with c.state.lock:
        c.automations.add_to_collection(collection_id, data["object_id"])
        answer = {**data, "collection_id": collection_id, "date_created": now_iso()}
        return jsonify(answer), 201


@api_route(bp, S, "/v1/{object_type}/{object_id}/approvals/", ["GET"])
def get_approvals(object_type: str, object_id: str) -> Any:
    """The asset's approval (one, by the sandbox's user), once one was set."""
    c = ctx()
    with c.state.lock:
        _approvable(object_type, object_id)
        items = [c.state.approvals[object_id]] if object_id in c.state.approvals else []
        return jsonify(by_page(items, c.per_page_cap, copy.deepcopy))


@api_route(bp, S, "/v1/{object_type}/{object_id}/approvals/", ["PUT"])
def set_approval(object_type: str, object_id: str) -> Any:
    """Set an asset's approval status; a change is an event for automations."""
    data = body()
    _require(data, "status")
    c = ctx()
    with c.state.lock:
        _approvable(object_type, object_id)
        record = c.automations.set_approval(object_id, data["status"], caller_user_id())
        return jsonify(copy.deepcopy(record))


def _approvable(object_type: str, object_id: str) -> None:
    if object_type != "assets":
        raise BadRequest("object_type: the sandbox keeps approvals of assets only")
    ctx().state.asset(object_id)


@api_route(bp, S, "/v1/custom_actions/", ["GET"])
def list_all_custom_actions() -> Any:
    state = ctx().state
    with state.lock:
        return jsonify({"objects": copy.deepcopy(state.custom_actions_list())})


@api_route(bp, S, "/v1/custom_actions/{context}/", ["GET"])
def list_custom_actions(context: str) -> Any:
    state = ctx().state
    with state.lock:
        return jsonify({"objects": copy.deepcopy(state.custom_actions_list(context))})


@api_route(bp, S, "/v1/custom_actions/{context}/", ["POST"])
def create_custom_action(context: str) -> Any:
    data = body()
    _require(data, "title", "url")
    state = ctx().state
    with state.lock:
        return jsonify(copy.deepcopy(state.create_custom_action(context, data))), 201


@api_route(bp, S, "/v1/custom_actions/{context}/{action_id}/", ["GET"])
def get_custom_action(context: str, action_id: str) -> Any:
    state = ctx().state
    with state.lock:
        return jsonify(copy.deepcopy(state.custom_action(context, action_id)))


@api_route(bp, S, "/v1/custom_actions/{context}/{action_id}/", ["PUT", "PATCH"])
def update_custom_action(context: str, action_id: str) -> Any:
    data = body()
    if request.method == "PUT":
        _require(data, "title", "url")
    state = ctx().state
    with state.lock:
        action = state.update_custom_action(
            context, action_id, data, replace=request.method == "PUT"
        )
        return jsonify(copy.deepcopy(action))


@api_route(bp, S, "/v1/custom_actions/{context}/{action_id}/", ["DELETE"], strict_slashes=False)
def delete_custom_action(context: str, action_id: str) -> Any:
    """Also without the trailing slash: B2P's delete_action calls it that way."""
    ctx().state.delete_custom_action(context, action_id)
    return "", 204


def _require(data: Any, *names: str) -> None:
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    missing = [n for n in names if not data.get(n)]
    if missing:
        raise BadRequest(*(f"{n}: Missing data for required field." for n in missing))
