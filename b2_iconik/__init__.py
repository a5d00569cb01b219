"""Backblaze B2 Storage Plugin for iconik: the core package.

Add to LucidLink copies assets' files from a B2 storage to a LucidLink storage through iconik;
Remove from LucidLink deletes the LucidLink copy only once every file is verified on B2.
``main.py`` adapts it to Google Cloud Functions; the same code runs under functions-framework.

The package is built in layers; a module imports only from its own package and from the layers
below it, never from one above or beside it (``tests/test_layout.py`` checks this):

5. :mod:`b2_iconik.app` (builds the plugin from the environment),
   :mod:`b2_iconik.custom_actions` (the operator's ``b2-iconik-actions`` tool) and
   ``b2_iconik.__main__`` (``python -m b2_iconik --version``, and how to run the server);
4. :mod:`b2_iconik.edge`: the HTTP edge, a router and the two journeys through it (a click, a
   queued step);
3. :mod:`b2_iconik.engine`: running background steps (runners, worker, Cloud Tasks, tally,
   gathering); and :mod:`b2_iconik.audit`: the storage-wide audit, read only;
2. :mod:`b2_iconik.rules`: what an action means and does (payload, plan, steps, selection,
   verification, add, remove, the iconik job's record);
1. :mod:`b2_iconik.iconik`: the iconik API client (rate limit, retries, shared pool); and
   :mod:`b2_iconik.auth`: the credentials (shared secret, app token, sealing, OIDC);
0. :mod:`b2_iconik.base`: settings, errors and logs, which everything may use.
"""

__version__ = "2.1.0"
