"""Expanding what the user selected into the assets to handle (DESIGN §5, Selection).

Assets named directly, every asset inside the selected collections (recursively, through every
page, each collection visited once, so cycles and shared sub-collections cost nothing more) and
the results of saved searches. Each asset comes out once, in the order first reached. When the
action is split into shards (:mod:`b2_iconik.rules.plan`), only the shard's own assets come out.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from b2_iconik.iconik.session import Json
from b2_iconik.rules.payload import CustomAction
from b2_iconik.rules.plan import shard_of


class SelectionSource(Protocol):
    """The iconik calls expansion needs (the real client, or a fake in tests)."""

    def collection_contents(self, collection_id: str) -> object: ...

    def saved_search_results(self, search_id: str) -> object: ...


def expand(
    client: SelectionSource, selection: CustomAction, shard: int = 0, shards: int = 1
) -> list[str]:
    """Every asset id the selection reaches that belongs to this shard, each once.

    Raises:
        IconikError: a collection or saved search could not be read (404 included: a
            selection naming something that does not exist is not silently shrunk).
    """
    found = _Found(shard, shards)
    found.add_all(selection.asset_ids)
    seen: set[str] = set()
    _walk_collections(client, selection.collection_ids, found, seen)
    for search_id in dict.fromkeys(selection.saved_search_ids):
        collections: list[str] = []
        for item in _iterate(client.saved_search_results(search_id)):
            _sort(item, found, collections)
        _walk_collections(client, collections, found, seen)
    return list(found.assets)


class _Found:
    """The shard's assets in the order first reached; others are dropped as they come."""

    def __init__(self, shard: int, shards: int) -> None:
        self.shard, self.shards = shard, shards
        self.assets: dict[str, None] = {}

    def add(self, asset_id: str) -> None:
        if self.shards <= 1 or shard_of(asset_id, self.shards) == self.shard:
            self.assets.setdefault(asset_id, None)

    def add_all(self, asset_ids: tuple[str, ...]) -> None:
        for asset_id in asset_ids:
            self.add(asset_id)


def _walk_collections(
    client: SelectionSource,
    roots: tuple[str, ...] | list[str],
    found: _Found,
    seen: set[str],
) -> None:
    """Breadth-first through collections and their sub-collections, each visited once.

    ``seen`` is shared by the whole expansion, so a collection reached both directly and
    through a saved search is still listed only once.
    """
    queue = deque(roots)
    while queue:
        collection_id = queue.popleft()
        if collection_id in seen:
            continue
        seen.add(collection_id)
        children: list[str] = []
        for item in _iterate(client.collection_contents(collection_id)):
            _sort(item, found, children)
        queue.extend(c for c in children if c not in seen)


def _sort(item: Json, found: _Found, collections: list[str]) -> None:
    """File a listed object under assets or collections, by its ``object_type``."""
    object_id = item.get("id")
    if not object_id:
        return
    kind = item.get("object_type", "assets")
    if kind == "assets":
        found.add(str(object_id))
    elif kind == "collections":
        collections.append(str(object_id))


def _iterate(items: object) -> list[Json]:
    return list(items)  # type: ignore[call-overload]
