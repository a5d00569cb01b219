"""The storage-wide audit's core: every LucidLink file set, classified by Remove's own rule.

* :mod:`.reading`: :func:`~.reading.run_audit`: listing both storages with bounded memory;
* :mod:`.judging`: judging each asset with :func:`b2_iconik.rules.verification.check_asset`,
  re-reading what a listing cannot settle;
* :mod:`.report`: the classes, the running totals, the report and its summary.

It only reads; the ``audit`` command of :mod:`b2_iconik.custom_actions` prints it and acts on it.

Layer 3, beside the engine: it may import :mod:`b2_iconik.base`, :mod:`b2_iconik.iconik` and
:mod:`b2_iconik.rules`; never the engine or the edge.
"""
