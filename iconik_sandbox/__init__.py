"""A local iconik for tests, demos and benchmarks: stateful, spec-checked, with faults on demand.

    with Sandbox(per_page_cap=5, copy_seconds=0.1) as sb:
        ids = sb.seed(Catalogue(assets=20))
        ...  # point the plugin at sb.url with App-ID sb.app_id and Auth-Token sb.token

Run by hand: ``python -m iconik_sandbox --port 8900 --seed demo``.

What lives here, by concern (the modules are named by it):

* the catalogue: :mod:`.state`, a subpackage because ``State`` is one object built from one
  class per resource (storages and assets, files, collections, jobs, custom actions);
* iconik's services over HTTP: :mod:`.app` and :mod:`.routing` (what every route shares),
  ``api_*.py`` (one module per service), :mod:`.views`, :mod:`.paging`, :mod:`.spec` (checking
  bodies against iconik's spec; :mod:`.spec_trim` regenerates it), :mod:`.tokens`,
  :mod:`.errors`, :mod:`.recorder`;
* the admin API for driving a sandbox from another process: ``admin*.py``;
* what happens behind the requests: :mod:`.copies` (copy jobs), :mod:`.faults`, and iconik's
  Automation engine: :mod:`.automations`, :mod:`.automation_bodies`,
  :mod:`.automation_history`, :mod:`.deliveries`;
* running one: :mod:`.server` (``Sandbox``), :mod:`.seed`, ``__main__`` and :mod:`.demo`.

Only the catalogue became a subpackage: the other concerns are a few modules each, whose names
already group them, and moving them would change every import for no gain in clarity.

Imports: the standard library, Flask/werkzeug, requests, openapi-schema-validator, and this
package. The sandbox stands in for iconik, so it never imports the plugin (``b2_iconik``),
``bench``, ``deploy`` or ``tests``, with one exception: :mod:`.demo` (``make demo``) drives the
plugin's own command line against the sandbox. ``tests/test_rooms.py`` checks this.
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
