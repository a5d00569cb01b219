"""The world's wire: each request the plugin sends, its faults, and what a Remove saw."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests

from b2_iconik.iconik.client import IconikClient
from iconik_sandbox import Sandbox
from iconik_sandbox.state import State
from tests.properties.catalogue import Built
from tests.properties.items import FAST, FAST_POST, ActionRun, ProcessDied, _acting

_ASSET_PATH = re.compile(r"^/API/files/v1/assets/([^/]+)/")


class Wire:
    """iconik, as the plugin sees it: the part of :class:`~tests.properties.world.World` that
    every request of the plugin goes through."""

    # The world's state that this part reads and writes (set in World.__init__).
    sb: Sandbox
    state: State
    built: Built
    runs: list[ActionRun]
    stats: Counter[str]
    sent: int
    nested: int
    dead: bool
    crashes: set[int]
    drops: dict[int, str]
    _listings: dict[tuple[int, str], set[str]]
    _interpose: Callable[[int], None]

    # -- iconik, as the plugin sees it -----------------------------------------------------------
    def client(self, token: str) -> IconikClient:
        """A real client on the sandbox whose every request goes through :meth:`through`."""
        client = IconikClient(self.sb.url, self.sb.app_id, token, retry=FAST,
                              copy_retry=FAST_POST, max_rps=None, timeout=(5.0, 30.0))
        client.session.request = partial(self.through, client.session.request)  # type: ignore[method-assign]
        return client

    def through(self, send: Callable[..., requests.Response], method: str, url: str,
                **kwargs: Any) -> requests.Response:
        """Send one of the plugin's requests: interposed events first, then faults of our own
        (a process dying, a connection dropped before the request or before its answer)."""
        index = self.sent
        self.sent += 1
        if self.dead:
            raise ProcessDied
        if self.nested <= 1:
            self._interpose(index)
        if index in self.crashes and self.nested:
            self.crashes.discard(index)
            self.dead = True
            raise ProcessDied
        path = urlsplit(url).path
        drop = self.drops.pop(index, None)
        if drop is not None and (drop == "request" or not path.startswith("/API/files/")):
            self.stats["connections dropped"] += 1
            raise requests.ConnectionError("the connection dropped before the request arrived")
        response = send(method, url, **kwargs)
        if drop == "answer":
            self.stats["answers lost"] += 1
            raise requests.ConnectionError("the connection dropped before the answer arrived")
        self._observe(url, response)
        return response

    def _observe(self, url: str, response: requests.Response) -> None:
        """Remember what a Remove saw of each LucidLink file set of an asset, answer by answer.

        A listing of the asset's file sets shows which sets exist (once its last page is read,
        a set it did not list is seen gone); a page of files shows the sets whose files it
        holds (gone, if the set was deleted to the recycle bin); a delete shows its set gone.
        Nothing else tells anything about a set: a page of B2 files only, read after someone
        deleted a LucidLink set, leaves what the pages before showed of it standing.
        """
        index = _acting.get()
        parts = urlsplit(url)
        match = _ASSET_PATH.match(parts.path)
        status = response.status_code
        if index is None or match is None or status == 429 or status >= 500:
            return
        run = self.runs[index]
        asset_id = match.group(1)
        if run.spec.operation != "remove" or asset_id not in run.originals:
            return
        seen = run.seen.setdefault(asset_id, {})
        objects = response.json().get("objects") or [] if status == 200 else []
        with self.state.lock:
            if parts.path.endswith("/file_sets/"):
                listing = self._listings.setdefault((index, asset_id), set())
                if "last_id" not in parts.query:
                    listing.clear()
                for fs in objects:
                    if self._ll_of(fs, run.spec.formats):
                        listing.add(fs["id"])
                        seen[fs["id"]] = self._active(fs["id"])
                if status != 200 or not response.json().get("next_url"):
                    for file_set_id in set(seen) | run.originals[asset_id]:
                        if file_set_id not in listing:
                            seen[file_set_id] = False
            elif parts.path.endswith("/files/"):
                for f in objects:
                    if self._ll_of(f, run.spec.formats):
                        seen[f["file_set_id"]] = self._active(f["file_set_id"])
            elif response.request.method == "DELETE":
                seen[parts.path.rstrip("/").rsplit("/", 1)[-1]] = False

    def _ll_of(self, record: dict[str, Any], formats: tuple[str, ...]) -> bool:
        """Whether a listed file set or file is on LucidLink, of one of these formats."""
        fmt = self.state.formats.get(str(record.get("format_id")))
        return record.get("storage_id") == self.built.ll_storage_id and bool(
            fmt and fmt["name"] in formats)

    def _active(self, file_set_id: str) -> bool:
        return (self.state.file_sets.get(file_set_id) or {}).get("status") == "ACTIVE"

    def on_lucidlink(self, asset_id: str, formats: tuple[str, ...]) -> frozenset[str]:
        """The asset's ACTIVE LucidLink file sets of these formats, now."""
        with self.state.lock:
            return frozenset(
                fs["id"] for fs in self.state.file_sets_of(asset_id, self.built.ll_storage_id)
                if self.state.formats[fs["format_id"]]["name"] in formats
            )
