"""The iconik API client: everything that talks HTTP to iconik and nothing that decides what to ask.

* :mod:`.client`: :class:`~.client.IconikClient`, one method per iconik operation;
* :mod:`.session`: its transport: one ``requests`` session per client, timeouts, paging, the
  user's token, and the translation of every ``requests`` failure into :mod:`b2_iconik.base.errors`;
* :mod:`.limiter`: the instance's request budget, clicks before background work;
* :mod:`.retry`: which failures are retried, how, and within that budget;
* :mod:`.pool`: the connections and the limiter every client of an instance shares.

Layer 1: it may import :mod:`b2_iconik.base` only; it knows nothing of the plugin's rules.
"""
