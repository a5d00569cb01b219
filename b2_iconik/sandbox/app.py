"""The sandbox's Flask app: iconik's conventions around every route.

For each ``/API/...`` request, in this order, as a real server would: injected latency, the
``App-ID``/``Auth-Token`` check (401), injected faults (429 / 5xx: answered before any handler
runs, so a faulted request changes nothing), routing (404/405 as JSON), JSON parsing and
validation of the body against iconik's spec (400), then the handler. Every answered ``/API``
request is recorded, without header values. ``/_sandbox/...`` is the admin API (loopback only).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from b2_iconik.sandbox.copies import CopyEngine
from b2_iconik.sandbox.errors import SandboxError
from b2_iconik.sandbox.faults import Faults
from b2_iconik.sandbox.recorder import RecordedRequest, RequestLog
from b2_iconik.sandbox.spec import SpecValidator
from b2_iconik.sandbox.state import State
from b2_iconik.sandbox.tokens import Tokens

#: Flask rule -> (service, spec path), filled by :func:`api_route`.
SPEC_ROUTES: dict[str, tuple[str, str]] = {}


@dataclass
class Context:
    """What the handlers share: state, faults, copies, settings and records."""

    state: State
    faults: Faults
    copies: CopyEngine
    requests: RequestLog
    per_page_cap: int = 100
    validate: bool = True
    empty_lists_404: bool = False
    tokens: Tokens = field(default_factory=Tokens)
    spec_violations: list[dict[str, Any]] = field(default_factory=list)
    validator: SpecValidator = field(default_factory=SpecValidator)
    lock: threading.Lock = field(default_factory=threading.Lock)
    seed_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    def token_ok(self, app_id: str | None, token: str | None) -> bool:
        """Whether this App-ID/Auth-Token pair is registered and not expired."""
        return self.tokens.valid(app_id, token)


def ctx() -> Context:
    """The sandbox context of the running app."""
    return current_app.extensions["sandbox"]


def api_route(
    bp: Blueprint, service: str, spec_path: str, methods: list[str], **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a handler for iconik's ``/API/<service><spec_path>`` (``{x}`` -> ``<x>``) and
    remember which spec operation it serves, for body validation."""
    rule = f"/API/{service}" + spec_path.replace("{", "<").replace("}", ">")
    SPEC_ROUTES[rule] = (service, spec_path)

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        endpoint = options.pop("endpoint", None) or f"{func.__name__}_{'_'.join(methods)}"
        bp.add_url_rule(rule, endpoint, func, methods=methods, **options)
        return func

    return register


def error(status: int, *messages: str) -> tuple[Any, int]:
    """iconik's error answer ``{"errors": [...]}``."""
    return jsonify({"errors": list(messages)}), status


def body() -> Any:
    """The parsed JSON body of the request (``{}`` when empty)."""
    return g.get("body") if g.get("body") is not None else {}


def create_app(context: Context) -> Flask:
    """Build the Flask app around a sandbox context."""
    from b2_iconik.sandbox import admin, api_assets, api_auth, api_files, api_jobs

    app = Flask("b2_iconik.sandbox")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sandbox"] = context
    for module in (api_files, api_assets, api_jobs, api_auth, admin):
        app.register_blueprint(module.bp)
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(SandboxError, _sandbox_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _crash)
    return app


def _before() -> Any:
    g.start, g.wall, g.body = time.monotonic(), time.time(), None
    path = request.path
    if path.startswith("/_sandbox/"):
        g.admin = True
        if request.remote_addr not in ("127.0.0.1", "::1"):
            return error(403, "The sandbox admin API is for loopback clients only")
        return None
    g.admin = False
    c = ctx()
    g.body = _parse_body()
    delay = c.faults.delay_for(path)
    if delay:
        time.sleep(delay)
    if path.startswith("/API/") and not c.token_ok(
        request.headers.get("App-ID"), request.headers.get("Auth-Token")
    ):
        return error(401, "Token is invalid")
    fault = c.faults.http_fault(request.method, path)
    if fault is not None:
        response = jsonify(fault.body)
        response.status_code = fault.status
        response.headers.update(fault.headers)
        return response
    if request.routing_exception is not None or request.url_rule is None:
        return None  # Flask answers 404/405 through _http_error
    if g.body is _INVALID:
        return error(400, "Request body is not valid JSON")
    spec = SPEC_ROUTES.get(request.url_rule.rule)
    if spec and request.method in ("POST", "PUT", "PATCH") and c.validate:
        service, spec_path = spec
        document = g.body if g.body is not None else {}
        problems = c.validator.check_body(service, request.method, spec_path, document)
        if problems:
            with c.lock:
                c.spec_violations.append(
                    {
                        "method": request.method,
                        "path": path,
                        "spec_path": spec_path,
                        "error": "; ".join(problems),
                        "errors": problems,
                        "body": g.body,
                    }
                )
            return error(400, *problems)
    return None


_INVALID = object()


def _parse_body() -> Any:
    if request.method not in ("POST", "PUT", "PATCH", "DELETE") or not request.get_data():
        return None
    try:
        return request.get_json(force=True)
    except Exception:  # werkzeug answers a malformed body with its own BadRequest
        return _INVALID


def _after(response: Any) -> Any:
    if g.get("admin", True) or not hasattr(g, "start"):
        return response
    parsed = g.get("body")
    ctx().requests.append(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(),
            body=None if parsed is _INVALID else parsed,
            status=response.status_code,
            time=g.start,
            wall=g.wall,
            latency=time.monotonic() - g.start,
            app_id=request.headers.get("App-ID"),
        )
    )
    return response


def _sandbox_error(exc: SandboxError) -> Any:
    return error(exc.status, *exc.messages)


def _http_error(exc: HTTPException) -> Any:
    if exc.code and 300 <= exc.code < 400:  # e.g. 308 to the path with its trailing slash
        return exc.get_response()
    messages = {404: "Not found", 405: "Method not allowed"}
    return error(exc.code or 500, messages.get(exc.code or 500, exc.description or "Error"))


def _crash(exc: Exception) -> Any:
    current_app.logger.exception("sandbox handler crashed")
    return error(500, f"Sandbox error: {type(exc).__name__}: {exc}")
