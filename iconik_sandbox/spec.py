"""Request-body (and answer) validation against the trimmed copy of iconik's OpenAPI specs.

The plugin's end-to-end tests assert that every body it sent passed this check, which is as close
as we can get to "iconik would have accepted it" without an iconik account.
"""

from __future__ import annotations

import copy
import json
import threading
from functools import cache
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).parent / "spec"
SERVICES = ("files", "assets", "search", "jobs", "automations")


@cache
def load_spec(service: str) -> dict[str, Any]:
    """The trimmed spec of one iconik service (one of ``SERVICES``)."""
    return json.loads((SPEC_DIR / f"{service}.json").read_text())


def _schema_ref(operation: dict[str, Any], *keys: str) -> dict[str, Any] | None:
    node: Any = operation
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, dict) else None


class SpecValidator:
    """Validates JSON documents against the schemas of the served operations.

    ``$ref``s are resolved inside the trimmed spec by validating against a root document that
    carries the spec's ``components`` beside the reference.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._validators: dict[tuple[str, ...], Any] = {}

    def _validator(self, service: str, schema: dict[str, Any], key: tuple[str, ...]) -> Any:
        from openapi_schema_validator import OAS30Validator, oas30_format_checker

        with self._lock:
            if key not in self._validators:
                root = dict(schema)
                root["components"] = load_spec(service)["components"]
                self._validators[key] = OAS30Validator(root, format_checker=oas30_format_checker)
            return self._validators[key]

    def body_schema(self, service: str, method: str, path: str) -> dict[str, Any] | None:
        """The request-body schema of an operation (None when it takes no body)."""
        operation = load_spec(service)["paths"].get(path, {}).get(method.lower())
        if operation is None:
            return None
        return _schema_ref(operation, "requestBody", "content", "application/json", "schema")

    def check_body(self, service: str, method: str, path: str, body: Any) -> list[str]:
        """Errors of a request body, as readable strings (empty when it is valid).

        PATCH bodies are partial updates on iconik even where the spec reuses a schema with
        ``required`` fields (B2P sends ``{"status": ..., "progress_processed": ...}`` live), so
        the top-level ``required`` list is dropped for PATCH.
        """
        schema = self.body_schema(service, method, path)
        if schema is None:
            return []
        if method.upper() == "PATCH":
            name = schema.get("$ref", "").rsplit("/", 1)[-1]
            target = copy.deepcopy(load_spec(service)["components"]["schemas"][name])
            target.pop("required", None)
            schema = target
        validator = self._validator(service, schema, (service, method.upper(), path))
        return [_describe(e) for e in validator.iter_errors(body)]

    def check_response(
        self, service: str, method: str, path: str, status: int, document: Any
    ) -> list[str]:
        """Errors of an answer against the operation's response schema for that status."""
        operation = load_spec(service)["paths"][path][method.lower()]
        schema = _schema_ref(
            operation, "responses", str(status), "content", "application/json", "schema"
        )
        if schema is None:
            return []
        validator = self._validator(service, schema, (service, method.upper(), path, str(status)))
        return [_describe(e) for e in validator.iter_errors(document)]


def _describe(error: Any) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "<body>"
    return f"{where}: {error.message}"
