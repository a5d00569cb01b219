"""How records are shown in answers: copies with the fields iconik derives at read time."""

from __future__ import annotations

import copy
from typing import Any

from iconik_sandbox.state import Record, State


def file_view(state: State, record: Record, signed_url: bool = False) -> Record:
    """A file with ``file_set_status``, ``format_status``, ``storage_method`` (and ``url``)."""
    out = copy.deepcopy(record)
    fs = state.file_sets.get(record["file_set_id"])
    fmt = state.formats.get(record["format_id"])
    storage = state.storages.get(record["storage_id"])
    out["file_set_status"] = fs["status"] if fs else None
    out["format_status"] = fmt["status"] if fmt else None
    out["storage_method"] = storage["method"] if storage else None
    if signed_url:
        out["url"] = f"https://sandbox.invalid/download/{record['id']}?signature=sandbox"
    return out


def file_set_view(state: State, record: Record, file_count: bool = False) -> Record:
    """A file set, with ``file_count`` when asked for."""
    out = copy.deepcopy(record)
    if file_count:
        out["file_count"] = len(state.files_of(file_set_id=record["id"]))
    return out


def asset_view(state: State, record: Record) -> Record:
    """An asset with the collections it is in."""
    out = copy.deepcopy(record)
    out["in_collections"] = state.collections_of(record["id"])
    return out


def content_view(state: State, item: tuple[str, str]) -> dict[str, Any]:
    """One collection child as collection contents list it (``object_type`` set)."""
    kind, object_id = item
    if kind == "assets":
        out = asset_view(state, state.assets[object_id])
    else:
        out = copy.deepcopy(state.collections[object_id])
    out["object_type"] = kind
    return out


def flag(value: str | None, default: bool = False) -> bool:
    """A boolean query parameter as iconik reads them (``true``/``false``)."""
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")
