"""A local iconik for tests, demos and benchmarks: stateful, spec-checked, with faults on demand.

    with Sandbox(per_page_cap=5, copy_seconds=0.1) as sb:
        ids = sb.seed(Catalogue(assets=20))
        ...  # point the plugin at sb.url with App-ID sb.app_id and Auth-Token sb.token

Run by hand: ``python -m b2_iconik.sandbox --port 8900 --seed demo``.
"""

from b2_iconik.sandbox.faults import Faults, HttpFault
from b2_iconik.sandbox.recorder import RecordedRequest, RequestLog
from b2_iconik.sandbox.seed import Catalogue, SeedResult
from b2_iconik.sandbox.server import Sandbox
from b2_iconik.sandbox.state import State

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
