"""The foundation: settings (:mod:`.config`), the error tree (:mod:`.errors`), logs (:mod:`.logs`).

Layer 0: every other package may import it; it imports nothing from ``b2_iconik`` outside itself.
"""
