"""The sandbox's Flask app: iconik's conventions around every route.

For each ``/API/...`` request, in this order, as a real server would: injected latency, the
``App-ID``/``Auth-Token`` check (401), injected faults (429 / 5xx: answered before any handler
runs, so a faulted request changes nothing), routing (404/405 as JSON), JSON parsing and
validation of the body against iconik's spec (400), then the handler. Every answered ``/API``
request is recorded, without header values. ``/_sandbox/...`` is the admin API (loopback only).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from iconik_sandbox import (
    admin,
    admin_automations,
    api_assets,
    api_auth,
    api_automations,
    api_files,
    api_jobs,
)
from iconik_sandbox.errors import SandboxError
from iconik_sandbox.recorder import RecordedRequest
from iconik_sandbox.routing import SPEC_ROUTES, Context, ctx, error


def create_app(context: Context) -> Flask:
    """Build the Flask app around a sandbox context."""
    app = Flask("iconik_sandbox")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["sandbox"] = context
    modules = (api_files, api_assets, api_jobs, api_auth, api_automations)
    for module in (*modules, admin, admin_automations):
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
