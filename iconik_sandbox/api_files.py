"""The Files service routes (``/API/files/v1``): storages, copies, formats, file sets, files."""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify, request

from iconik_sandbox.errors import NotFound
from iconik_sandbox.paging import by_cursor, by_page
from iconik_sandbox.routing import api_route, body, ctx, require_role
from iconik_sandbox.views import file_set_view, file_view, flag

bp = Blueprint("files", __name__)
S = "files"


@api_route(bp, S, "/v1/storages/", ["GET"])
def list_storages() -> Any:
    c = ctx()
    filters = {k: request.args.get(k) for k in ("id", "name", "method", "purpose", "status")}
    ids = set(request.args["ids"].split(",")) if request.args.get("ids") else None
    with c.state.lock:
        items = [
            copy.deepcopy(s)
            for s in c.state.storages.values()
            if all(v is None or s[k] == v for k, v in filters.items())
            and (ids is None or s["id"] in ids)
        ]
    return jsonify(by_page(items, c.per_page_cap))


@api_route(bp, S, "/v1/storages/{storage_id}/", ["GET"])
def get_storage(storage_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        return jsonify(copy.deepcopy(c.state.storage(storage_id)))


#: The filters of the storage files listing the sandbox honours (exact matches), of the spec's.
_FILE_FILTERS = ("id", "name", "status", "checksum", "directory_path", "type")
#: Scroll snapshots kept at once; the oldest is forgotten first (iconik's scrolls expire too).
_SCROLLS_KEPT = 64


@api_route(bp, S, "/v1/storages/{storage_id}/files/", ["GET"])
def list_storage_files(storage_id: str) -> Any:
    """Every file on a storage, as iconik's FilesElasticSchema: page numbers by default.

    ``scroll=true`` walks a snapshot of the file ids taken by the first request (its
    ``scroll_id`` and ``next_url`` carry on), so files added or deleted meanwhile do not shift
    the pages; a file purged since the snapshot is left out of its page, one DELETED since
    shows as DELETED. Role ``can_list_storage_files``; an unknown storage answers 404.
    """
    require_role("can_list_storage_files")
    c = ctx()
    filters = {k: request.args[k] for k in _FILE_FILTERS if request.args.get(k)}
    scroll = flag(request.args.get("scroll"))
    with c.state.lock:
        c.state.storage(storage_id)
        scroll_id = request.args.get("scroll_id") if scroll else None
        if scroll_id is not None and scroll_id not in c.state.scrolls:
            raise NotFound("Scroll id expired or unknown")
        if scroll_id is None:
            ids = c.state.storage_file_ids(storage_id)
            if filters:
                ids = [
                    i
                    for i in ids
                    if all(str(c.state.files[i].get(k)) == v for k, v in filters.items())
                ]
            if scroll:
                scroll_id = c.state.new_id()
                c.state.scrolls[scroll_id] = ids
                while len(c.state.scrolls) > _SCROLLS_KEPT:
                    c.state.scrolls.pop(next(iter(c.state.scrolls)))
        else:
            ids = c.state.scrolls[scroll_id]

        def view(file_id: str) -> dict[str, Any] | None:
            record = c.state.files.get(file_id)
            return None if record is None else file_view(c.state, record)

        answer = by_page(ids, min(c.per_page_cap, 100), view)
    if scroll_id is not None:
        answer["scroll_id"] = scroll_id
        for key in ("first_url", "prev_url", "next_url", "last_url"):
            if answer[key] and "scroll_id=" not in answer[key]:
                answer[key] += f"&scroll=true&scroll_id={scroll_id}"
    return jsonify(answer)


@api_route(bp, S, "/v1/storages/{storage_id}/bulk/", ["POST"])
def bulk_copy(storage_id: str) -> Any:
    job = ctx().copies.start_bulk(storage_id, body())
    return jsonify(
        {"job_id": job["id"], "success": f"Queued copying of file sets to storage {storage_id}"}
    ), 202


@api_route(bp, S, "/v1/file_sets/{file_set_id}/storages/{storage_id}/", ["POST"])
def copy_file_set(file_set_id: str, storage_id: str) -> Any:
    job = ctx().copies.start_file_set(file_set_id, storage_id, body())
    return jsonify(
        {"job_id": job["id"], "success": f"Queued copying of file set to storage {storage_id}"}
    ), 202


@api_route(bp, S, "/v1/assets/{asset_id}/formats/", ["GET"])
def list_formats(asset_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        c.state.asset(asset_id)
        items = c.state.formats_of(asset_id)
        missing = "Formats for this asset don't exist" if c.empty_lists_404 else None
        return jsonify(by_cursor(items, c.per_page_cap, copy.deepcopy, missing))


@api_route(bp, S, "/v1/assets/{asset_id}/formats/{format_id}/", ["GET"])
def get_format(asset_id: str, format_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        fmt = c.state.format_named(asset_id, format_id)
        if fmt is None:
            raise NotFound("Format for this asset doesn't exist")
        return jsonify(copy.deepcopy(fmt))


@api_route(bp, S, "/v1/assets/{asset_id}/file_sets/", ["GET"])
def list_file_sets(asset_id: str) -> Any:
    c = ctx()
    count = flag(request.args.get("file_count"))
    with c.state.lock:
        c.state.asset(asset_id)
        items = c.state.file_sets_of(asset_id)
        missing = "FileSets for this asset don't exist" if c.empty_lists_404 else None
        return jsonify(
            by_cursor(items, c.per_page_cap, lambda fs: file_set_view(c.state, fs, count), missing)
        )


@api_route(
    bp, S, "/v1/assets/{asset_id}/formats/{format_id}/storages/{storage_id}/file_sets/", ["GET"]
)
def list_format_file_sets(asset_id: str, format_id: str, storage_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        c.state.asset(asset_id)
        fmt = c.state.format_named(asset_id, format_id)
        items = (
            []
            if fmt is None
            else [
                fs
                for fs in c.state.file_sets_of(asset_id, storage_id)
                if fs["format_id"] == fmt["id"]
            ]
        )
        missing = "FileSets for this asset don't exist" if c.empty_lists_404 else None
        return jsonify(
            by_cursor(items, c.per_page_cap, lambda fs: file_set_view(c.state, fs), missing)
        )


@api_route(bp, S, "/v1/assets/{asset_id}/file_sets/{file_set_id}/", ["GET"])
def get_file_set(asset_id: str, file_set_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        return jsonify(file_set_view(c.state, c.state.file_set(asset_id, file_set_id), True))


@api_route(bp, S, "/v1/assets/{asset_id}/file_sets/{file_set_id}/", ["DELETE"])
def delete_file_set(asset_id: str, file_set_id: str) -> Any:
    c = ctx()
    with c.state.lock:
        fs = c.state.delete_file_set(asset_id, file_set_id, flag(request.args.get("immediately")))
        if fs is None:
            return "", 204
        return jsonify(file_set_view(c.state, fs))


@api_route(bp, S, "/v1/assets/{asset_id}/file_sets/{file_set_id}/purge/", ["DELETE"])
def purge_file_set(asset_id: str, file_set_id: str) -> Any:
    ctx().state.purge_file_set(asset_id, file_set_id)
    return "", 204


@api_route(bp, S, "/v1/assets/{asset_id}/files/", ["GET"])
def list_asset_files(asset_id: str) -> Any:
    c = ctx()
    signed = flag(request.args.get("generate_signed_url"), default=False)
    with c.state.lock:
        c.state.asset(asset_id)
        items = c.state.files_of(asset_id=asset_id)
        missing = "Files for this asset don't exist" if c.empty_lists_404 else None
        return jsonify(
            by_cursor(items, c.per_page_cap, lambda f: file_view(c.state, f, signed), missing)
        )


@api_route(bp, S, "/v1/assets/{asset_id}/file_sets/{file_set_id}/files/", ["GET"])
def list_file_set_files(asset_id: str, file_set_id: str) -> Any:
    c = ctx()
    signed = flag(request.args.get("generate_signed_url"), default=True)
    with c.state.lock:
        c.state.file_set(asset_id, file_set_id)
        items = c.state.files_of(file_set_id=file_set_id)
        return jsonify(by_cursor(items, c.per_page_cap, lambda f: file_view(c.state, f, signed)))
