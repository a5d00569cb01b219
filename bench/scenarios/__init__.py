"""The bench's scenarios: those of issue 11 (with issue 8's Cloud Tasks comparison), issue 15's
burst from an automation and issue 16's audit, each returning its figures.

Each starts a plugin server of its own (so no work, cache or memory of an earlier scenario counts
in its figures), seeds the sandbox, clicks as iconik does, and waits for the iconik job to end.
Wall times run from just before the click to the job's ``completed_at`` as iconik stamped it.

* :mod:`.common`: the sizes, the shared targets, the iconik paths counted, the bounds on waits;
* :mod:`.work`: Remove (at scale, at high latency, scaling, beside Cloud Tasks) and Add;
* :mod:`.answers`: waves of clicks, and a cold start;
* :mod:`.policies`: an automation's burst with clicks mixed in;
* the audit scenario lives in :mod:`bench.audit`.

This package holds the registry, ``SCENARIOS``, and ``run``, which runs one of them.

Imports: what :mod:`bench` may (the sandbox, the plugin's constants), and of the bench the lab,
its processes, its figures and its queue. A scenario module imports :mod:`.common` and never
another scenario module; only this registry imports them all (and :mod:`bench.audit`).
``tests/test_rooms.py`` checks this.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from bench.audit import audit_scenario
from bench.figures import Result
from bench.lab import Lab
from bench.scenarios.answers import accepting_clicks, cold_start
from bench.scenarios.common import Sizes
from bench.scenarios.policies import policies
from bench.scenarios.work import add_at_scale, big_remove, remove_at_scale, remove_slow, scaling

Scenario = Callable[[Lab, Sizes], Result]

#: Every scenario, by the name ``--only`` takes, in the order they run.
SCENARIOS: dict[str, Scenario] = {
    "remove": remove_at_scale,
    "add": add_at_scale,
    "remove_slow": remove_slow,
    "clicks": accepting_clicks,
    "cold_start": cold_start,
    "scaling": scaling,
    "big_remove": big_remove,
    "policies": policies,
    "audit": audit_scenario,
}


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def run(lab: Lab, name: str, sizes: Sizes) -> Result:
    """Run one scenario; a failure becomes the result's error instead of stopping the bench."""
    started, load = time.monotonic(), _load()
    try:
        result = SCENARIOS[name](lab, sizes)
    except Exception as error:  # a failed scenario is reported, and the others still run
        result = Result(name, name.replace("_", " "), error=f"{type(error).__name__}: {error}")
    result.details["bench_seconds"] = round(time.monotonic() - started, 1)
    result.details["load_average"] = {"before": load, "after": _load()}
    return result
