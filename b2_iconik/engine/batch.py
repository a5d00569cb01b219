"""A gathering window (:mod:`.gathering`): who asks, which batch a request joins, when it closes.

Small values both sides of a batch share: the gatherer that writes requests into the window's
batch, the CLOSE step that starts its work (:mod:`.closing`), and the click's answer that says
when the batch starts (:mod:`b2_iconik.edge.click`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from b2_iconik.base.errors import PluginError
from b2_iconik.rules.payload import ActionOptions

#: The longest wait between a window's end and its batch's start.
GRACE_SECONDS = 10.0
#: ``object_id`` namespace of batch jobs (a fixed UUID: the same on every instance).
_NAMESPACE = uuid.UUID("6f1d3f0e-2b7c-4c55-9a55-b2a7c0117e11")


class Late(PluginError):
    """The window closed before this write was known to be in it: use the next window."""


@dataclass(frozen=True)
class Source:
    """Where a request that is not a person's click comes from.

    Attributes:
        policy: the policy its URL names (``…/policies/<policy>/remove``), or "".
        application: True when it carried no token and the plugin acts with its own.
    """

    policy: str = ""
    application: bool = False

    @property
    def label(self) -> str:
        """In words, for titles and logs, e.g. "automation: remove-when-approved, as the
        application" (the plugin acted with its own token) or "automation: remove-when-approved"
        (with the token the request carried)."""
        named = f"automation: {self.policy}" if self.policy else "automation"
        return f"{named}, as the application" if self.application else named

    @property
    def acting(self) -> str:
        return "application" if self.application else "the token it carried"


@dataclass(frozen=True)
class Window:
    """One gathering window: what is gathered, from whom, and when.

    Attributes:
        identity: "application", or the iconik user the request's token belongs to
            (requests acting as different users never share a batch).
    """

    operation: str
    options: ActionOptions
    source: Source
    identity: str
    start: float
    seconds: float

    @classmethod
    def at(
        cls, operation: str, options: ActionOptions, source: Source, identity: str, now: float,
        seconds: float,
    ) -> Window:
        return cls(operation, options, source, identity, (now // seconds) * seconds, seconds)

    @property
    def end(self) -> float:
        return self.start + self.seconds

    @property
    def grace(self) -> float:
        """How long after the window's end its CLOSE step runs: long enough for a write begun
        before the end to land (and for instances' clocks to differ a little), short enough
        that a lone request's work starts soon (10 s for a minute's window)."""
        return min(GRACE_SECONDS, max(0.5, self.seconds / 6))

    @property
    def late_after(self) -> float:
        """A write that ends after this may be missed by the CLOSE step."""
        return self.end + self.grace / 2

    @property
    def key(self) -> str:
        o = self.options
        return "|".join((
            self.operation, o.b2_storage_id, o.ll_storage_id, ",".join(o.formats),
            str(o.dry_run), self.source.policy, self.identity, f"{self.start:.0f}",
        ))

    @property
    def name(self) -> str:
        """The queue name whose holder creates the batch."""
        return "gather-" + hashlib.sha256(self.key.encode()).hexdigest()[:40]

    @property
    def object_id(self) -> str:
        return batch_object_id(self.operation, self.options, self.start)


def batch_object_id(operation: str, options: ActionOptions, when: float) -> str:
    """The ``object_id`` of batch jobs of an operation and storages in one hour."""
    hour = int(when // 3600)
    name = f"b2-iconik/{operation}/{options.b2_storage_id}/{options.ll_storage_id}/{hour}"
    return str(uuid.uuid5(_NAMESPACE, name))


def batch_metadata(window: Window) -> dict[str, object]:
    return {
        "batch": window.key,
        "policy": window.source.policy,
        "source": window.source.label,
        "acting": window.source.acting,
        "closes_at": window.end + window.grace,
    }


def clock_text(when: float) -> str:
    """ "10:04:30 UTC", for job messages and answers."""
    return datetime.fromtimestamp(when, UTC).strftime("%H:%M:%S UTC")


def iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
