"""``Sandbox``: the local iconik as a real HTTP server on a background thread.

A real socket (not Flask's test client) so the plugin's own ``requests`` session, retries,
timeouts and rate limiter are exercised exactly as against iconik.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable, Mapping
from typing import Any, cast

import requests
from werkzeug.serving import (
    BaseWSGIServer,
    ThreadedWSGIServer,
    WSGIRequestHandler,
    make_server,
)

from iconik_sandbox.app import create_app
from iconik_sandbox.automation_bodies import automation_body, custom_action
from iconik_sandbox.automations import Automations
from iconik_sandbox.copies import CopyEngine
from iconik_sandbox.deliveries import Deliveries
from iconik_sandbox.faults import Faults
from iconik_sandbox.recorder import RequestLog
from iconik_sandbox.routing import Context
from iconik_sandbox.seed import Catalogue, SeedResult, seed
from iconik_sandbox.spec import SpecValidator
from iconik_sandbox.state import Record, State
from iconik_sandbox.tokens import Tokens

DEFAULT_APP_ID = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
#: A day, so a sandbox (and the plugin's token checks) behaves as iconik with expiring tokens.
DEFAULT_TOKEN_LIFETIME = 86_400.0


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log on stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


class Sandbox:
    """A local iconik. Use as a context manager, or call ``start()`` and ``stop()``.

    Args:
        host: the address to bind; loopback by default (the admin API has no authentication).
        port: 0 picks a free port; read ``url`` after ``start()``.
        per_page_cap: the largest page any list answers with, whatever ``per_page`` asks.
        copy_seconds: how long a copy job runs before its files appear.
        validate: check request bodies against iconik's spec; bad ones answer 400 and are
            listed in ``spec_violations``.
        faults: a ``Faults``, or a dict of fault settings.
        app_id, token: the default credentials (a fixed App-ID and a random token).
        empty_lists_404: answer 404 on empty format/file-set/file lists, as iconik's spec says
            it may ("FileSets for this asset don't exist"); off by default.
        fault_seed: seed of the fault randomness when ``faults`` is not a ``Faults``.
        log_requests: print werkzeug's access log line for each request (the CLI does).
        token_lifetime: seconds a token lives (the default one, and each one made by
            ``POST /API/auth/v1/auth/token/``); None: tokens never expire.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        per_page_cap: int = 100,
        copy_seconds: float = 0.3,
        validate: bool = True,
        faults: Faults | Mapping[str, Any] | None = None,
        app_id: str = DEFAULT_APP_ID,
        token: str | None = None,
        empty_lists_404: bool = False,
        fault_seed: int = 0,
        log_requests: bool = False,
        token_lifetime: float | None = DEFAULT_TOKEN_LIFETIME,
    ) -> None:
        self.log_requests = log_requests
        self.host = host
        self.port = port
        self.app_id = app_id
        self.token = token or secrets.token_urlsafe(24)
        self.state = State()
        if isinstance(faults, Faults):
            self.faults = faults
        else:
            self.faults = Faults(seed=fault_seed, **dict(faults or {}))
        self.requests = RequestLog()
        self.copies = CopyEngine(self.state, self.faults, copy_seconds)
        tokens = Tokens(token_lifetime)
        self.automations = Automations(self.state, Deliveries(self.state, tokens, app_id))
        self.context = Context(
            state=self.state,
            faults=self.faults,
            copies=self.copies,
            requests=self.requests,
            automations=self.automations,
            per_page_cap=per_page_cap,
            validate=validate,
            empty_lists_404=empty_lists_404,
            validator=SpecValidator(),
            tokens=tokens,
        )
        self.add_token(self.app_id, self.token)
        self.app = create_app(self.context)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Bind and serve on a daemon thread; returns self."""
        if self._server is not None:
            return self
        # threaded=True (one process): make_server builds a ThreadedWSGIServer, though it is
        # annotated as returning the base class.
        server = cast(
            ThreadedWSGIServer,
            make_server(
                self.host,
                self.port,
                self.app,
                threaded=True,
                request_handler=None if self.log_requests else _QuietHandler,
            ),
        )
        server.daemon_threads = True
        self._server = server
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"iconik-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cancel pending copy timers and automation deliveries (quick: no
        waiting on copies or on requests in flight)."""
        self.copies.stop()
        self.automations.deliveries.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- conveniences --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (use as the plugin's ICONIK_URL)."""
        return f"http://{self.host}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        """The default credentials as request headers."""
        return {"App-ID": self.app_id, "Auth-Token": self.token}

    @property
    def spec_violations(self) -> list[dict[str, Any]]:
        """Request bodies that did not match iconik's spec (method, path, error...)."""
        with self.context.lock:
            return list(self.context.spec_violations)

    @property
    def tokens(self) -> Tokens:
        """The accepted tokens: expire one (``expire``), refuse renewals, read expiries."""
        return self.context.tokens

    def add_token(
        self,
        app_id: str,
        token: str,
        lifetime: float | None = None,
        *,
        user_id: str | None = None,
        without_roles: Iterable[str] = (),
    ) -> None:
        """Accept another App-ID/Auth-Token pair (e.g. a custom action's ``auth_token``), of
        ``user_id``, lacking ``without_roles`` (iconik's 403 on the calls that need them)."""
        self.context.tokens.add(
            app_id, token, lifetime, user_id=user_id, without_roles=without_roles
        )

    def seed(self, catalogue: Catalogue | None = None) -> SeedResult:
        """Seed a catalogue (default ``Catalogue()``); returns the ids by category."""
        return seed(self.state, catalogue or Catalogue())

    def reset(self) -> None:
        """Empty the catalogue, automations and records, turn faults off and set the clock and
        the delivery shapes back (credentials stay)."""
        self.copies.cancel_pending()  # they would otherwise land in the emptied catalogue
        self.automations.deliveries.reset()
        self.state.reset()
        self.automations.reset()
        self.faults.clear()
        self.requests.clear()
        self.context.tokens.refused_renewals = False
        with self.context.lock:
            self.context.spec_violations.clear()

    # -- automations ---------------------------------------------------------------------------
    def create_automation(
        self,
        name: str,
        triggers: list[Record],
        action_id: str,
        *,
        status: str = "ACTIVE",
        context: str = "ASSET",
        metadata_values: Mapping[str, Any] | None = None,
    ) -> Record:
        """Create an automation running custom action ``action_id`` through iconik's API, with
        the default credentials; returns it. Build ``triggers`` with ``review_trigger``,
        ``collection_trigger``, ``modified_trigger``, ``created_trigger`` (automation_bodies.py)."""
        action = custom_action(action_id, context, metadata_values)
        response = requests.post(
            f"{self.url}/API/automations/v1/automations/",
            json=automation_body(name, triggers, action, status),
            headers=self.headers,
            timeout=10,
        )
        if response.status_code != 201:
            raise RuntimeError(f"automation refused: {response.status_code} {response.text}")
        return response.json()

    def set_delivery_shape(self, source: str | None = None, **fields: Any) -> dict[str, Any]:
        """How automations call custom actions: ``token`` (user, app, none), ``context``
        (ASSET, BULK), ``batch_size``; for ``source`` events or runs (None: both)."""
        return self.automations.deliveries.set_shape(source, **fields)

    def set_approval(self, asset_id: str, status: str = "APPROVED") -> Record:
        """Set an asset's approval status, as a reviewer would (automations see a change)."""
        return self.automations.set_approval(asset_id, status)

    def add_to_collection(self, collection_id: str, *asset_ids: str) -> list[str]:
        """Add assets to a collection, as a user would (automations see them added)."""
        return self.automations.add_to_collection(collection_id, *asset_ids)

    def advance_clock(self, days: float) -> int:
        """Let ``days`` pass on the sandbox's clock and check the day-based triggers; returns
        how many executions that started."""
        return self.automations.advance_clock(days)

    def wait_for_deliveries(self, timeout: float = 5.0) -> list[Record]:
        """Wait until no automation request is pending; returns every delivery. Raises
        TimeoutError when some are still pending after ``timeout`` seconds."""
        deliveries = self.automations.deliveries
        if not deliveries.wait_idle(timeout):
            raise TimeoutError(f"{deliveries.pending} deliveries still pending after {timeout} s")
        return deliveries.records()

    @property
    def deliveries(self) -> list[Record]:
        """Every finished automation request: automation, assets, status, answer, job_id."""
        return self.automations.deliveries.records()

    @property
    def automation_history(self) -> list[Record]:
        """Every execution recorded (AutomationHistorySchema), oldest first."""
        return self.automations.history_list()
