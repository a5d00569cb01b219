"""A local iconik for tests, demos and benchmarks: stateful, spec-checked, with faults on demand.

    with Sandbox(per_page_cap=5, copy_seconds=0.1) as sb:
        ids = sb.seed(Catalogue(assets=20))
        ...  # point the plugin at sb.url with App-ID sb.app_id and Auth-Token sb.token

Run by hand: ``python -m iconik_sandbox --port 8900 --seed demo``.
"""

from iconik_sandbox.faults import Faults, HttpFault
from iconik_sandbox.recorder import RecordedRequest, RequestLog
from iconik_sandbox.seed import Catalogue, SeedResult
from iconik_sandbox.server import Sandbox
from iconik_sandbox.state import State

__all__ = [
    "Catalogue",
    "Faults",
    "HttpFault",
    "RecordedRequest",
    "RequestLog",
    "Sandbox",
    "SeedResult",
    "State",
]
