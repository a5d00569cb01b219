"""``Sandbox``: the local iconik as a real HTTP server on a background thread.

A real socket (not Flask's test client) so the plugin's own ``requests`` session, retries,
timeouts and rate limiter are exercised exactly as against iconik.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from typing import Any, cast

from werkzeug.serving import (
    BaseWSGIServer,
    ThreadedWSGIServer,
    WSGIRequestHandler,
    make_server,
)

from b2_iconik.sandbox.app import create_app
from b2_iconik.sandbox.copies import CopyEngine
from b2_iconik.sandbox.faults import Faults
from b2_iconik.sandbox.recorder import RequestLog
from b2_iconik.sandbox.routing import Context
from b2_iconik.sandbox.seed import Catalogue, SeedResult, seed
from b2_iconik.sandbox.spec import SpecValidator
from b2_iconik.sandbox.state import State
from b2_iconik.sandbox.tokens import Tokens

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
        self.context = Context(
            state=self.state,
            faults=self.faults,
            copies=self.copies,
            requests=self.requests,
            per_page_cap=per_page_cap,
            validate=validate,
            empty_lists_404=empty_lists_404,
            validator=SpecValidator(),
            tokens=Tokens(token_lifetime),
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
        """Stop serving and cancel pending copy timers (quick: no waiting on copies)."""
        self.copies.stop()
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

    def add_token(self, app_id: str, token: str, lifetime: float | None = None) -> None:
        """Accept another App-ID/Auth-Token pair (e.g. a custom action's ``auth_token``)."""
        self.context.tokens.add(app_id, token, lifetime)

    def seed(self, catalogue: Catalogue | None = None) -> SeedResult:
        """Seed a catalogue (default ``Catalogue()``); returns the ids by category."""
        return seed(self.state, catalogue or Catalogue())

    def reset(self) -> None:
        """Empty the catalogue and records and turn faults off (credentials stay)."""
        self.copies.cancel_pending()  # they would otherwise land in the emptied catalogue
        self.state.reset()
        self.faults.clear()
        self.requests.clear()
        self.context.tokens.refused_renewals = False
        with self.context.lock:
            self.context.spec_violations.clear()
