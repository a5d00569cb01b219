"""The sandbox's iconik catalogue: storages, assets, formats, file sets, files, collections,
saved searches, jobs and custom actions, kept in memory behind one lock.

``State`` is one object (the HTTP layer, the copies and the automations share it), put together
from one class per resource so no module grows too big; each builds on :mod:`.tables`:

* :mod:`.tables`: the tables, the lock, the clock, ids, ``snapshot()`` and ``counts()``, and the
  ids and time helpers (``USER_ID``, ``now_iso`` ...) the rest of the sandbox stamps records with;
* :mod:`.assets`: storages, assets, approvals and formats;
* :mod:`.files`: file sets and files;
* :mod:`.collections`: collections and saved searches;
* :mod:`.jobs`: jobs; :mod:`.custom_actions`: custom actions.

Records are plain dicts shaped like iconik's schemas. Everything that reads or changes several
tables holds ``lock`` (re-entrant), so concurrent requests and copy timers see consistent state.
This package imports only :mod:`iconik_sandbox.errors` besides itself.
"""

from __future__ import annotations

from iconik_sandbox.state.collections import Collections
from iconik_sandbox.state.custom_actions import CustomActions
from iconik_sandbox.state.files import Files
from iconik_sandbox.state.jobs import Jobs
from iconik_sandbox.state.tables import Record, now_iso

__all__ = ["Record", "State"]


class State(Files, Collections, Jobs, CustomActions):
    """The catalogue. Tables are dicts id -> record, in creation order; hold ``lock`` to read
    several of them consistently. The ``add_*`` helpers are for tests and seeding."""

    # -- copies held open by a fault -----------------------------------------------------------
    def complete_open_copies(self) -> int:
        """Close the files of copies a ``copy_stays_open`` fault held OPEN and finish their jobs
        (the transfer "eventually completes"). Returns how many copies were completed."""
        with self.lock:
            done = 0
            for child_id, fs_id in list(self.open_copies.items()):
                for f in self.files_of(file_set_id=fs_id):
                    if f["status"] == "OPEN":
                        f.update(status="CLOSED", date_modified=now_iso())
                child = self.update_job(child_id, {"status": "FINISHED", "progress_processed": 1})
                del self.open_copies[child_id]
                if child.get("parent_id") in self._jobs:
                    self.settle_parent(child["parent_id"])
                done += 1
            return done

