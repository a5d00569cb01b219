"""Credentials and their checks: the shared secret and the application token (:mod:`.secret`),
the key that seals users' tokens inside queued steps (:mod:`.sealing`), and the check of Cloud
Tasks' OIDC tokens (:mod:`.oidc`).

Layer 1: it may import :mod:`b2_iconik.base` only; it knows nothing of iconik, steps or HTTP
routes, so the engine (which seals and checks steps) and the edge can both use it.
"""
