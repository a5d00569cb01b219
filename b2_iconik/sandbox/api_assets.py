"""The Assets service routes (``/API/assets/v1``): assets, collections, custom actions."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify, request

from b2_iconik.sandbox.errors import BadRequest
from b2_iconik.sandbox.paging import by_page
from b2_iconik.sandbox.routing import api_route, body, ctx
from b2_iconik.sandbox.views import asset_view, content_view

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
