"""What an action means and does, one rule per module, whatever runs it.

* :mod:`.payload`: iconik's custom-action request and the action's options;
* :mod:`.plan`: splitting a selection into shards that each fit in a task;
* :mod:`.steps`: the step, the frozen value that carries one piece of an action (the engine runs
  steps; the rules below take and return them, so the type lives here, below the engine);
* :mod:`.selection`: expanding collections and saved searches into assets;
* :mod:`.verification`: the safety rule (DESIGN §5): when a LucidLink copy may be deleted;
* :mod:`.add` and :mod:`.remove`: one chunk's rounds of each operation;
* :mod:`.jobs`: what the iconik job says (titles, progress, failures).

Layer 2: it may import :mod:`b2_iconik.base` and :mod:`b2_iconik.iconik`; never the engine or the
edge, so a rule reads the same under every runner.
"""
