"""Running the background work: steps in, successors out, the job kept up to date.

* :mod:`.runners`: the :class:`~.runners.Runner` protocol, the queue, the in-process runner;
* :mod:`.cloud_tasks`: the Cloud Tasks runner (enqueue, lease, deliver at most once in effect);
* :mod:`.worker`: runs one step of any kind, with its job's context and its token;
* :mod:`.expansion`: an EXPAND step, a shard of the selection into chunks;
* :mod:`.tally`: the end of an action: counting its parts, the watchdog, the final status;
* :mod:`.stale`: jobs a lost instance left behind;
* :mod:`.tokens`: keeping a long action's iconik token alive;
* :mod:`.gathering`, :mod:`.batch` and :mod:`.closing`: automations' requests gathered into one
  job a window, and the CLOSE step that starts it.

Layer 3: it may import :mod:`b2_iconik.base`, :mod:`b2_iconik.auth`, :mod:`b2_iconik.iconik` and
:mod:`b2_iconik.rules`; never the edge, which hands it work, nor :mod:`b2_iconik.audit`.
"""
