"""What the sandbox's routes share: the context, the route decorator, iconik's error shape.

The blueprints import this module and the app imports the blueprints, so the dependency runs one
way: routing <- blueprints <- app.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from iconik_sandbox.automations import Automations
from iconik_sandbox.copies import CopyEngine
from iconik_sandbox.errors import Forbidden
from iconik_sandbox.faults import Faults
from iconik_sandbox.recorder import RequestLog
from iconik_sandbox.spec import SpecValidator
from iconik_sandbox.state import State
from iconik_sandbox.state.tables import USER_ID
from iconik_sandbox.tokens import Tokens

#: Flask rule -> (service, spec path), filled by :func:`api_route`.
SPEC_ROUTES: dict[str, tuple[str, str]] = {}


@dataclass
class Context:
    """What the handlers share: state, faults, copies, automations, settings and records."""

    state: State
    faults: Faults
    copies: CopyEngine
    requests: RequestLog
    automations: Automations
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


def require_role(role: str) -> None:
    """iconik's 403 unless the caller's token carries ``role``."""
    app_id, token = request.headers.get("App-ID"), request.headers.get("Auth-Token")
    if not ctx().tokens.has_role(app_id, token, role):
        raise Forbidden(f"Missing required role: {role}")


def caller_user_id() -> str:
    """The user the caller's token acts for."""
    app_id, token = request.headers.get("App-ID"), request.headers.get("Auth-Token")
    return ctx().tokens.holder(app_id, token).user_id or USER_ID


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
