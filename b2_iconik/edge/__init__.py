"""The HTTP edge (DESIGN §3): what arrives, which journey it takes, what is answered.

* :mod:`.router`: :class:`~.router.Plugin`, the one entry: it routes a request (404, 405) to a
  journey and maps every error to a status; new routes are added there;
* :mod:`.click`: a click's journey (or an automation's request): shared secret, body, storages,
  the iconik job, the steps handed to the runner, the answer; or joining a gathered batch;
* :mod:`.delivery`: a queued step's journey: OIDC or secret, decode, unseal, run, answer;
* :mod:`.status`: ``GET /`` (name, version, endpoints) and ``GET /healthz`` (can the shared
  secret be read), open to anyone;
* :mod:`.http`: the plain request and response types and reading a body safely.

Only ``main.py`` knows about Flask; this package takes and returns plain dataclasses.

Layer 4: it may import every layer below (:mod:`b2_iconik.base`, :mod:`b2_iconik.auth`,
:mod:`b2_iconik.iconik`, :mod:`b2_iconik.rules`, :mod:`b2_iconik.engine`); nothing imports it but
:mod:`b2_iconik.app` and ``main.py``.
"""
