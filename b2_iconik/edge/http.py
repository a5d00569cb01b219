"""The edge's plain types: a request as the plugin needs it, an answer, and reading a body safely.

Only ``main.py`` knows about Flask: it builds a :class:`Request` and sends back a :class:`Response`.
Reading a body is here because both journeys do it, with the same limits (1 MiB, strict JSON).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from b2_iconik.base.errors import PayloadError
from b2_iconik.rules.payload import shown

MAX_BODY = 1024 * 1024
SECRET_HEADER = "x-bz-secret"


@dataclass(frozen=True)
class Request:
    """An incoming request, as the plugin needs it.

    Attributes:
        read: reads at most n bytes of the body (so a huge body is never read whole).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    read: Callable[[int], bytes]
    content_length: int | None = None


@dataclass(frozen=True)
class Response:
    """What to answer: a status, a JSON body and headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> str:
        return json.dumps(self.body)


def error(status: int, text: str, **headers: str) -> Response:
    """An error answer; ``error`` and ``message`` both carry the text, for any client."""
    return Response(status, {"error": text, "message": text}, headers)


def unauthorized(text: str) -> Response:
    return error(401, text, **{"WWW-Authenticate": f'SharedSecret header="{SECRET_HEADER}"'})


def read_body(request: Request) -> bytes:
    """The body, refusing more than 1 MiB before reading it whole."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadError("body", f"is larger than {MAX_BODY} bytes", status=413)
    raw = request.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise PayloadError("body", f"is larger than {MAX_BODY} bytes", status=413)
    return raw


def read_json(request: Request) -> Any:
    """The body as strict JSON (RFC 8259): no NaN or Infinity, no key given twice.

    A key given twice is refused rather than resolved: another parser (a proxy, a log viewer)
    may keep the other copy, and iconik never sends one.
    """
    raw = read_body(request)
    if not raw.strip():
        raise PayloadError("body", "is empty: expected iconik's custom-action JSON")
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("body", "is not valid JSON") from None
    except RecursionError:
        # json nests by recursion: a body of 100,000 "[" fits in 1 MiB and would be a 500.
        raise PayloadError("body", "is nested too deeply to be iconik's payload") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's pairs as a dict, refusing a key given twice."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise PayloadError("body", f"has the key {shown(key)} twice")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity are Python's extensions, not JSON."""
    raise ValueError(f"{name} is not JSON")
