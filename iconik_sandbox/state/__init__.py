"""The sandbox's catalogue (being split by resource: this re-export lasts one commit)."""

from iconik_sandbox.state.files import (
    APP_USER_ID,
    DAY_SECONDS,
    SYSTEM_DOMAIN_ID,
    USER_ID,
    Record,
    State,
    epoch,
    iso,
    now_iso,
)

__all__ = [
    "APP_USER_ID",
    "DAY_SECONDS",
    "SYSTEM_DOMAIN_ID",
    "USER_ID",
    "Record",
    "State",
    "epoch",
    "iso",
    "now_iso",
]
