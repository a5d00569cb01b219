"""Planning an accepted action: which EXPAND steps start it.

A click may name tens of thousands of assets (iconik sends up to 1 MiB), but a Cloud Tasks task
holds at most 100 KB. So the selection is split into *shards* by a hash of each asset id: shard
``r`` of ``R`` holds the directly selected assets that hash to ``r`` and every selected collection
and saved search. Its EXPAND step walks those collections and searches too, but keeps only the
assets that hash to ``r``. Each asset therefore belongs to exactly one shard, however often the
selection reaches it, and each shard removes its own duplicates in memory: no shared state is
needed to handle every asset once. Nearly every click is one shard; only a huge list of assets
mixed with collections makes several shards walk the same collections, which costs listing calls
(about 1% of the work) and nothing else.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

from b2_iconik.base.errors import PayloadError
from b2_iconik.rules.payload import CustomAction

#: What one id costs in a step's JSON (36 characters, quotes and a comma).
ID_BYTES = 40
#: The most an EXPAND step's selection may hold, leaving room for the rest of the step.
SHARD_BYTES = 64_000
#: The most collections and saved searches one action may name (every shard carries them all).
MAX_ROOTS = 500


def shard_of(asset_id: str, shards: int) -> int:
    """Which shard an asset belongs to (stable across instances and runs)."""
    if shards <= 1:
        return 0
    digest = hashlib.sha256(asset_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards


def shards(selection: CustomAction) -> list[CustomAction]:
    """Split a selection into shards that each fit in a task (usually just one).

    The token stays out of the shards: a step carries it once, on its own.

    Raises:
        PayloadError: the selection names more collections and saved searches than one action
            can carry.
    """
    roots = len(selection.collection_ids) + len(selection.saved_search_ids)
    if roots > MAX_ROOTS:
        raise PayloadError(
            "collection_ids",
            f"names {roots} collections and saved searches; one action takes at most "
            f"{MAX_ROOTS}: select a collection that holds them instead",
        )
    room = (SHARD_BYTES - ID_BYTES * roots) // ID_BYTES
    if len(selection.asset_ids) <= room:
        return [replace(selection, auth_token="")]
    count = math.ceil(len(selection.asset_ids) / (room * 0.8))
    while True:
        parts = split(selection, count)
        if max(len(part.asset_ids) for part in parts) <= room:
            return parts
        count += 1


def split(selection: CustomAction, count: int) -> list[CustomAction]:
    """The selection in ``count`` shards by the hash of each asset id (no token in them)."""
    bare = replace(selection, auth_token="")
    if count <= 1:
        return [bare]
    parts: list[list[str]] = [[] for _ in range(count)]
    for asset_id in selection.asset_ids:
        parts[shard_of(asset_id, count)].append(asset_id)
    return [replace(bare, asset_ids=tuple(part)) for part in parts]
