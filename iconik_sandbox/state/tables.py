"""The catalogue's tables, its clock and its ids: what every part of ``State`` builds on.

``Tables`` holds every table (plain dicts shaped like iconik's schemas, so the HTTP layer can
answer with them almost as they are and ``snapshot()`` is JSON-able), the indexes beside them,
the re-entrant ``lock``, the sandbox's clock and its id source. The resource modules of this
package add the operations; the ids and time helpers here are what the rest of the sandbox
stamps records with.
"""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from iconik_sandbox.errors import BadRequest

Record = dict[str, Any]

SYSTEM_DOMAIN_ID = "5a9b1f0e-2c3d-4e5f-8a6b-7c8d9e0f1a2b"
USER_ID = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"
#: The user an application token acts as (iconik gives each application token a service user).
APP_USER_ID = "7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918"
DAY_SECONDS = 86_400.0


def _uuid4(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, without the cost of a UUID object (seeding
    100,000 assets makes half a million ids)."""
    bits = (bits & ~(0xC000 << 48) | 0x8000 << 48) & ~(0xF000 << 64) | 0x4000 << 64
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now_iso() -> str:
    """The current time as iconik writes it (ISO-8601 with a UTC offset)."""
    return datetime.now(UTC).isoformat()


def iso(epoch: float) -> str:
    """Epoch seconds as iconik writes times."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def epoch(stamp: str) -> float:
    """An iconik time string as epoch seconds."""
    return datetime.fromisoformat(stamp).timestamp()


class Tables:
    """Every table of the catalogue, in creation order (dicts id -> record), with the indexes
    that keep a catalogue of 100,000 assets as fast as one of ten. Hold ``lock`` to read
    several tables consistently."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._ids: random.Random | None = None
        self.reset()

    def reset(self) -> None:
        """Empty every table."""
        with self.lock:
            self.storages: dict[str, Record] = {}
            self.assets: dict[str, Record] = {}
            self.formats: dict[str, Record] = {}
            self.file_sets: dict[str, Record] = {}
            self.files: dict[str, Record] = {}
            self.collections: dict[str, Record] = {}
            #: collection id -> ordered direct children as (object_type, id)
            self.contents: dict[str, list[tuple[str, str]]] = {}
            self.saved_searches: dict[str, Record] = {}
            self._jobs: dict[str, Record] = {}
            self.custom_actions: dict[str, Record] = {}
            #: child copy job id -> destination file set id, for copies held OPEN by a fault
            self.open_copies: dict[str, str] = {}
            # Indexes, so a catalogue of 100,000 assets answers as fast as one of ten.
            self._formats_of: dict[str, list[str]] = {}
            self._sets_of: dict[str, dict[str, None]] = {}
            self._files_of_asset: dict[str, dict[str, None]] = {}
            self._files_of_set: dict[str, dict[str, None]] = {}
            self._files_of_storage: dict[str, dict[str, None]] = {}
            #: storage id -> its file ids as a list, while no file was added or removed there
            self._storage_lists: dict[str, list[str]] = {}
            #: scroll id -> the file ids a storage listing found when it began (see
            #: ``storage_files``), so a scroll walks one snapshot however the storage changes
            self.scrolls: dict[str, list[str]] = {}
            self._children: dict[str, list[str]] = {}
            self._holders: dict[str, list[str]] = {}  # asset id -> collections holding it
            #: asset id -> its approval status record (ApprovalBySchema); none means N/A
            self.approvals: dict[str, Record] = {}
            self._versions: dict[str, str] = {}  # asset id -> its current version id
            #: seconds the sandbox's clock runs ahead of the wall clock (see ``advance_clock``)
            self.clock_offset = 0.0

    # -- the sandbox's clock -------------------------------------------------------------------
    def now(self) -> float:
        """The sandbox's time (epoch seconds): the wall clock plus what ``advance_clock`` added.
        Asset dates and the automations' day-based triggers use it, so days can pass in a test."""
        return time.time() + self.clock_offset

    def advance_clock(self, days: float) -> float:
        """Move the sandbox's clock ``days`` forward; returns the new time."""
        if days < 0:
            raise BadRequest("days: the clock only moves forward")
        with self.lock:
            self.clock_offset += days * DAY_SECONDS
            return self.now()

    def new_id(self) -> str:
        """A fresh uuid; repeatable while ``seeded_ids`` is in effect."""
        if self._ids is not None:
            return _uuid4(self._ids.getrandbits(128))
        return str(uuid.uuid4())

    def seeded_ids(self, rng: random.Random | None) -> None:
        """Draw ids from ``rng`` (None: back to uuid4). Call with ``lock`` held."""
        self._ids = rng


    # -- inspection ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A deep, JSON-able copy of every table (for demos and debugging)."""
        with self.lock:
            return copy.deepcopy(
                {
                    "storages": list(self.storages.values()),
                    "assets": list(self.assets.values()),
                    "formats": list(self.formats.values()),
                    "file_sets": list(self.file_sets.values()),
                    "files": list(self.files.values()),
                    "collections": [
                        {
                            **c,
                            "contents": [
                                {"object_type": k, "id": i} for k, i in self.contents[c["id"]]
                            ],
                        }
                        for c in self.collections.values()
                    ],
                    "saved_searches": list(self.saved_searches.values()),
                    "jobs": list(self._jobs.values()),
                    "custom_actions": list(self.custom_actions.values()),
                }
            )

    def counts(self) -> dict[str, int]:
        """How many records each table holds."""
        with self.lock:
            return {
                "storages": len(self.storages),
                "assets": len(self.assets),
                "formats": len(self.formats),
                "file_sets": len(self.file_sets),
                "files": len(self.files),
                "collections": len(self.collections),
                "saved_searches": len(self.saved_searches),
                "jobs": len(self._jobs),
                "custom_actions": len(self.custom_actions),
            }

