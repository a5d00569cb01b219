"""The Jobs (``/API/jobs/v1``) and Search (``/API/search/v1``) service routes."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify, request

from b2_iconik.sandbox.errors import BadRequest
from b2_iconik.sandbox.paging import by_page
from b2_iconik.sandbox.routing import api_route, body, ctx
from b2_iconik.sandbox.views import flag

bp = Blueprint("jobs", __name__)


@api_route(bp, "jobs", "/v1/jobs/", ["POST"])
def create_job() -> Any:
    data = body()
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    missing = [n for n in ("title", "type", "status") if not data.get(n)]
    if missing:
        raise BadRequest(*(f"{n}: Missing data for required field." for n in missing))
    state = ctx().state
    with state.lock:
        return jsonify(copy.deepcopy(state.create_job(data))), 201


@api_route(bp, "jobs", "/v1/jobs/", ["GET"])
def list_jobs() -> Any:
    c = ctx()
    args = request.args
    with c.state.lock:
        items = c.state.jobs(
            parent_id=args.get("parent_id"),
            status=args.get("status"),
            type=args.get("type"),
            object_id=args.get("object_id"),
        )
        return jsonify(by_page(items, c.per_page_cap, copy.deepcopy))


@api_route(bp, "jobs", "/v1/jobs/{job_id}/", ["GET"])
def get_job(job_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        return jsonify(copy.deepcopy(c.state.job(job_id)))


@api_route(bp, "jobs", "/v1/jobs/{job_id}/", ["PATCH"])
def patch_job(job_id: str) -> Any:
    data = body()
    if not isinstance(data, dict):
        raise BadRequest("body: must be a JSON object")
    c = ctx()
    with c.state.lock:
        job = c.state.update_job(job_id, data, flag(request.args.get("merge_metadata")))
        return jsonify(copy.deepcopy(job))


@api_route(bp, "search", "/v1/search/saved/{search_id}/", ["GET"])
def saved_search_results(search_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        search = c.state.saved_search(search_id)
        ids = search["asset_ids"] if flag(request.args.get("include_results"), True) else []
        items = [i for i in ids if i in c.state.assets]
        page = by_page(
            items,
            c.per_page_cap,
            lambda i: {
                "id": i,
                "object_type": "assets",
                "title": c.state.assets[i]["title"],
                "date_created": c.state.assets[i]["date_created"],
                "date_modified": c.state.assets[i]["date_modified"],
            },
        )
        return jsonify(
            {
                "id": search["id"],
                "name": search["name"],
                "search_criteria_document": copy.deepcopy(search["search_criteria_document"]),
                **page,
            }
        )
