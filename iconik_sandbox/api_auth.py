"""The Auth service routes (``/API/auth/v1``): check, renew, refresh and revoke a token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request

from iconik_sandbox.routing import ctx, error
from iconik_sandbox.state.tables import SYSTEM_DOMAIN_ID, USER_ID, now_iso

bp = Blueprint("auth", __name__)
PATH = "/API/auth/v1/auth/token/"


def _token_schema(app_id: str, token: str) -> dict[str, Any]:
    expires = ctx().tokens.expires(app_id, token)
    return {
        "token": token,
        "app_id": app_id,
        "user_id": ctx().tokens.holder(app_id, token).user_id or USER_ID,
        "system_domain_id": SYSTEM_DOMAIN_ID,
        "expires": None if expires is None else datetime.fromtimestamp(expires, UTC).isoformat(),
        "date_created": now_iso(),
        "date_modified": now_iso(),
    }


def _caller() -> tuple[str, str]:
    return request.headers.get("App-ID", ""), request.headers.get("Auth-Token", "")


@bp.get(PATH)
def check_token() -> Any:
    """200 with the token's details while it is valid (the 401 comes before, when not)."""
    return jsonify(_token_schema(*_caller()))


@bp.post(PATH)
def new_token() -> Any:
    """A new token for the same user and application, the old one left valid."""
    tokens = ctx().tokens
    if tokens.refused_renewals:
        return error(403, "Token creation is not allowed")
    app_id, caller = _caller()
    token, _ = tokens.renew(app_id, like=caller)
    return jsonify(_token_schema(app_id, token)), 201


@bp.put(PATH)
def refresh_token() -> Any:
    """The same token, valid for longer."""
    app_id, token = _caller()
    ctx().tokens.refresh(app_id, token)
    return jsonify(_token_schema(app_id, token))


@bp.delete(PATH)
def revoke_token() -> Any:
    app_id, token = _caller()
    ctx().tokens.revoke(app_id, token)
    return "", 200
