"""What every scenario shares: the sizes they run at, the targets several of them judge by, the
iconik paths they count, and the bounds on their waits."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: Remove's target: wall time within this many times its floor (issue 11).
REMOVE_TARGET = 1.3
#: "No more than a handful of 429s".
HANDFUL = 5
#: A click's answer: p99 under 300 ms (issue 11); iconik itself gives up after about 10 s.
CLICK_TARGET = 0.3
ICONIK_GIVES_UP = 10.0

#: The iconik paths the scenarios count (what the plugin asked, from the sandbox's records).
DELETE = re.compile(r"^/API/files/v1/assets/[^/]+/file_sets/[^/]+/$")
PURGE = re.compile(r"/purge/$")
BULK = re.compile(r"^/API/files/v1/storages/[^/]+/bulk/$")
CONTENTS = re.compile(r"^/API/assets/v1/collections/[^/]+/contents/$")
FILE_SETS = re.compile(r"^/API/files/v1/assets/[^/]+/file_sets/$")
JOB = re.compile(r"^/API/jobs/v1/jobs/[^/]+/$")
READS = re.compile(r"^/API/files/v1/assets/[^/]+/(formats|file_sets|files)/$")


@dataclass(frozen=True)
class Sizes:
    """How many assets (or clicks) each scenario uses."""

    remove: int
    add: int
    slow_remove: int
    clicks: int
    click_wave: int
    cold_imports: int
    cold_starts: int
    scaling: tuple[int, ...]
    big: int
    #: The automation's burst: requests of one asset each, sent evenly over ``policy_seconds``
    #: by ``policy_clients`` clients; the plugin's GATHER_SECONDS; a person's click of
    #: ``policy_click_assets`` assets every ``policy_click_every`` seconds meanwhile.
    policy_requests: int = 10_000
    policy_seconds: float = 300.0
    policy_clients: int = 20
    policy_gather_seconds: float = 60.0
    policy_click_every: float = 10.0
    policy_click_assets: int = 3


FULL = Sizes(remove=2000, add=2000, slow_remove=2000, clicks=200, click_wave=20, cold_imports=5,
             cold_starts=3, scaling=(250, 1000, 4000), big=10_000)
QUICK = Sizes(remove=20, add=20, slow_remove=20, clicks=40, click_wave=20, cold_imports=1,
              cold_starts=1, scaling=(10, 20, 40), big=30, policy_requests=200,
              policy_seconds=20.0, policy_clients=20, policy_gather_seconds=4.0,
              policy_click_every=2.0, policy_click_assets=2)


def timeout_for(calls: float, rps: float) -> float:
    """A bound on any wait for a job: three times its floor, and two minutes more."""
    return 3 * calls / rps + 120


def rank(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p99 of 200 answers is the 198th fastest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

