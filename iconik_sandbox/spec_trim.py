"""Regenerate the trimmed iconik spec copy in ``spec/`` from iconik's full OpenAPI specs.

The sandbox validates request bodies (and its tests validate its answers) against iconik's own
published schemas, not against shapes we wrote ourselves. Only the operations the sandbox serves,
and the schemas they reach through ``$ref``, are kept, so the copy stays small enough to review.

Run: ``python -m iconik_sandbox.spec_trim /work/shared/iconik-api/specs``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).parent / "spec"

#: service -> {spec path -> methods served}. The single source of what the sandbox implements.
SERVED: dict[str, dict[str, tuple[str, ...]]] = {
    "files": {
        "/v1/storages/": ("get",),
        "/v1/storages/{storage_id}/": ("get",),
        "/v1/storages/{storage_id}/files/": ("get",),
        "/v1/storages/{storage_id}/bulk/": ("post",),
        "/v1/file_sets/{file_set_id}/storages/{storage_id}/": ("post",),
        "/v1/assets/{asset_id}/formats/": ("get",),
        "/v1/assets/{asset_id}/formats/{format_id}/": ("get",),
        "/v1/assets/{asset_id}/file_sets/": ("get",),
        "/v1/assets/{asset_id}/formats/{format_id}/storages/{storage_id}/file_sets/": ("get",),
        "/v1/assets/{asset_id}/file_sets/{file_set_id}/": ("get", "delete"),
        "/v1/assets/{asset_id}/files/": ("get",),
        "/v1/assets/{asset_id}/file_sets/{file_set_id}/files/": ("get",),
        "/v1/assets/{asset_id}/file_sets/{file_set_id}/purge/": ("delete",),
    },
    "assets": {
        "/v1/assets/{asset_id}/": ("get",),
        "/v1/collections/{collection_id}/": ("get",),
        "/v1/collections/{collection_id}/contents/": ("get", "post"),
        "/v1/{object_type}/{object_id}/approvals/": ("get", "put"),
        "/v1/custom_actions/": ("get",),
        "/v1/custom_actions/{context}/": ("get", "post"),
        "/v1/custom_actions/{context}/{action_id}/": ("get", "put", "patch", "delete"),
    },
    "search": {
        "/v1/search/saved/{search_id}/": ("get",),
    },
    "jobs": {
        "/v1/jobs/": ("get", "post"),
        "/v1/jobs/{job_id}/": ("get", "patch"),
    },
    "automations": {
        "/v1/automations/": ("get", "post"),
        "/v1/automations/{automation_id}/": ("get", "put", "patch", "delete"),
        "/v1/automations/{automation_id}/history/": ("post",),
        "/v1/automations/{automation_id}/history/{object_type}/{object_id}/{version_id}/": (
            "get",
            "delete",
        ),
        "/v1/automations/{automation_id}/runs/": ("post",),
        "/v1/automations/{automation_id}/runs/estimate/": ("get",),
    },
}

SOURCE_NOTE = (
    "TRIMMED copy of iconik's OpenAPI 3.0.3 spec for the '{service}' service, May 2025, from "
    "/work/shared/iconik-api/specs/{service}.json (originally https://app.iconik.io/docs/{service}"
    "/spec/, via briansumma/iconik-api-models-generator commit 7d157bb). Only the operations the "
    "iconik sandbox serves and the schemas they reference are kept; nothing else was changed. "
    "Regenerate with: python -m iconik_sandbox.spec_trim <specs dir>"
)


def _refs(node: Any) -> set[str]:
    """Names of the component schemas a spec fragment refers to."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def trim(full: dict[str, Any], service: str) -> dict[str, Any]:
    """Keep only the served operations of one service's spec and the schemas they reach."""
    paths: dict[str, Any] = {}
    for path, methods in SERVED[service].items():
        item = full["paths"][path]
        paths[path] = {m: item[m] for m in methods}
        if "parameters" in item:
            paths[path]["parameters"] = item["parameters"]
    schemas = full["components"]["schemas"]
    keep: set[str] = set()
    to_visit = _refs(paths)
    while to_visit:
        name = to_visit.pop()
        if name not in keep:
            keep.add(name)
            to_visit |= _refs(schemas[name]) - keep
    info = dict(full.get("info", {}))
    info["description"] = SOURCE_NOTE.format(service=service)
    return {
        "openapi": full["openapi"],
        "info": info,
        "servers": full["servers"],
        "paths": paths,
        "components": {"schemas": {name: schemas[name] for name in sorted(keep)}},
    }


def main(argv: list[str] | None = None) -> int:
    """Write ``spec/<service>.json`` for every served service."""
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0] if args else "/work/shared/iconik-api/specs")
    SPEC_DIR.mkdir(exist_ok=True)
    for service in SERVED:
        full = json.loads((source / f"{service}.json").read_text())
        out = SPEC_DIR / f"{service}.json"
        out.write_text(json.dumps(trim(full, service), indent=1, sort_keys=True) + "\n")
        print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
