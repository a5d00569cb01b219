"""The tool's side of iconik: the operator's settings, the client, the checks, applying a plan.

The operator calls iconik with an application token (``ICONIK_TOKEN``), not a user's click token,
and waits at a terminal: so the client here has few, short retries, and every check that can
refuse the command (variables, storages) runs before the first change.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from b2_iconik.base.config import Settings, is_uuid
from b2_iconik.base.errors import ConfigError
from b2_iconik.custom_actions.actions import Json
from b2_iconik.custom_actions.errors import UsageError
from b2_iconik.custom_actions.plan import Change
from b2_iconik.custom_actions.render import PREVIEW_ID, describe, request_line
from b2_iconik.iconik.client import IconikClient
from b2_iconik.iconik.retry import retry_policy

#: Retries for the CLI: an operator waits at the terminal, so fail within seconds, not minutes.
CLI_RETRIES = 3
CLI_BACKOFF = 0.5


@dataclass(frozen=True)
class Environment:
    """What the tool reads from the environment (or ``.env``); repr hides the secrets."""

    settings: Settings
    token: str = field(repr=False)
    formats_env: tuple[str, ...] | None = None


def read_environment(need_secret: bool) -> Environment:
    """Read and check ``ICONIK_ID``, ``ICONIK_TOKEN``, ``ICONIK_URL`` and, for create, the secret.

    The checks come first so that a missing variable is named at once, before iconik is called.

    Raises:
        UsageError: a variable is missing or malformed; the message names it.
    """
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        raise UsageError(str(error)) from None
    token = os.environ.get("ICONIK_TOKEN", "").strip()
    if not token:
        raise UsageError("ICONIK_TOKEN is not set: give the iconik application token")
    if need_secret and not settings.shared_secret:
        raise UsageError(
            "BZ_SHARED_SECRET is not set: give the shared secret the function checks "
            "(the value of the Secret Manager secret bz-shared-secret)"
        )
    raw = os.environ.get("FORMAT_NAMES", "").strip() or os.environ.get("FORMAT_NAME", "").strip()
    return Environment(settings, token, settings.format_names if raw else None)


def make_client(env: Environment, preview: TextIO | None = None) -> IconikClient:
    """An iconik client for the operator's application token, with CLI-sized retries.

    With ``preview`` (a dry run), a :class:`PreviewClient` that prints writes there instead.
    """
    retry = retry_policy(total=CLI_RETRIES, backoff_factor=CLI_BACKOFF)
    args = (env.settings.iconik_url, env.settings.iconik_id, env.token)
    kwargs: dict[str, Any] = {
        "max_rps": env.settings.iconik_max_rps,
        "retry": retry,
        "copy_retry": retry,
    }
    if preview is not None:
        return PreviewClient(*args, out=preview, **kwargs)
    return IconikClient(*args, **kwargs)


def check_storages(
    client: IconikClient, b2_storage_id: str | None, ll_storage_id: str | None
) -> list[str]:
    """Make sure the storage ids name two different storages iconik knows, before any change.

    A wrong id would otherwise only show when a user clicks the action (the function answers
    400). Returns lines describing the storages found.

    Raises:
        UsageError: an id is not a UUID, both are the same, or iconik does not know one.
    """
    given = {"--b2-storage": b2_storage_id, "--ll-storage": ll_storage_id}
    for option, storage_id in given.items():
        if storage_id is not None and not is_uuid(storage_id):
            raise UsageError(f"{option} is not a storage id (a UUID): {storage_id!r}")
    if b2_storage_id and ll_storage_id and _same_id(b2_storage_id, ll_storage_id):
        raise UsageError(
            f"--b2-storage and --ll-storage are the same storage {b2_storage_id}: "
            "give the B2 storage and the LucidLink storage"
        )
    found = []
    for option, storage_id in given.items():
        if storage_id is None:
            continue
        storage = client.get_storage(storage_id)
        if storage is None:
            raise UsageError(f"{option} {storage_id}: iconik has no such storage")
        name = storage.get("name") or "(no name)"
        method = storage.get("method") or "?"
        found.append(f"{option.lstrip('-')}: {name} ({method}, {storage_id})")
    return found


def _same_id(a: str, b: str) -> bool:
    return a.replace("-", "").lower() == b.replace("-", "").lower()


def apply_change(client: IconikClient, change: Change) -> Json | None:
    """Send one planned change to iconik; returns the action iconik stored (create/update)."""
    if change.kind == "create":
        return client.create_custom_action(change.context, change.action)
    if change.kind == "update":
        return client.update_custom_action(change.context, str(change.action_id), change.action)
    if change.kind == "delete":
        client.delete_custom_action(change.context, str(change.action_id))
    return None


def apply_changes(client: IconikClient, changes: Iterable[Change], out: TextIO) -> int:
    """Send the planned changes to iconik, printing each as it is done; returns how many.

    Stops at the first failure (the error propagates): what was already done is printed, and
    running ``create`` again converges, since every step is an update of what is there.
    """
    done = 0
    for change in changes:
        if change.kind == "unchanged":
            continue
        apply_change(client, change)
        done += 1
        print(describe(change, dry_run=False), file=out)
    return done


class PreviewClient(IconikClient):
    """The client of a ``--dry-run``: reads go to iconik, writes are printed and never sent.

    Every request passes through ``_call``, so overriding it is the one place where a write can
    be held back: the command runs its real code path, and what it prints is exactly the
    requests it would send (the secret masked). A created object gets :data:`PREVIEW_ID`.
    """

    def __init__(self, *args: Any, out: TextIO, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.out = out

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Json | None = None,
        missing_ok: bool = False,
    ) -> Json | None:
        if method == "GET":
            return super()._call(method, path, params=params, json=json, missing_ok=missing_ok)
        print(request_line(method, path, json), file=self.out)
        if method == "POST":
            return {**(json or {}), "id": PREVIEW_ID}
        return json
