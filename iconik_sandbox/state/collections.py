"""Collections (nested, with their contents in order) and saved searches, and expanding
either into the assets they reach."""

from __future__ import annotations

from collections.abc import Iterable

from iconik_sandbox.errors import NotFound
from iconik_sandbox.state.assets import Assets
from iconik_sandbox.state.tables import USER_ID, Record, now_iso


class Collections(Assets):
    """Collections and saved searches, which hold assets."""

    # -- collections and saved searches --------------------------------------------------------
    def add_collection(self, title: str, parent_id: str | None = None) -> Record:
        """Create a collection, inside ``parent_id`` when given."""
        with self.lock:
            parents: list[str] = []
            if parent_id is not None:
                parent = self.collection(parent_id)
                parents = [*parent["parents"], parent_id]
            stamp = now_iso()
            coll: Record = {
                "id": self.new_id(),
                "title": title,
                "object_type": "collections",
                "status": "ACTIVE",
                "parent_id": parent_id,
                "parents": parents,
                "in_collections": [parent_id] if parent_id else [],
                "is_root": parent_id is None,
                "storage_id": None,
                "external_id": None,
                "category": None,
                "created_by_user": USER_ID,
                "date_created": stamp,
                "date_modified": stamp,
            }
            self.collections[coll["id"]] = coll
            self.contents[coll["id"]] = []
            if parent_id is not None:
                self.contents[parent_id].append(("collections", coll["id"]))
            return coll

    def collection(self, collection_id: str) -> Record:
        """The collection, or NotFound."""
        with self.lock:
            if collection_id not in self.collections:
                raise NotFound("Collection does not exist")
            return self.collections[collection_id]

    def add_to_collection(self, collection_id: str, *object_ids: str) -> list[str]:
        """Put assets (or collections) into a collection; an asset may be in several. Returns
        the assets that were not in it before (what an automation sees as added)."""
        with self.lock:
            self.collection(collection_id)
            children = self.contents[collection_id]
            present = set(children)
            added: list[str] = []
            for object_id in object_ids:
                kind = "collections" if object_id in self.collections else "assets"
                if kind == "assets":
                    self.asset(object_id)
                if (kind, object_id) not in present:
                    children.append((kind, object_id))
                    present.add((kind, object_id))
                    if kind == "assets":
                        self._holders.setdefault(object_id, []).append(collection_id)
                        added.append(object_id)
            return added

    def collections_of(self, asset_id: str) -> list[str]:
        """Ids of the collections that directly hold the asset."""
        with self.lock:
            return list(self._holders.get(asset_id, ()))

    def add_saved_search(self, name: str, asset_ids: Iterable[str]) -> Record:
        """A saved search whose results are these assets, in this order."""
        with self.lock:
            ids = list(asset_ids)
            for asset_id in ids:
                self.asset(asset_id)
            stamp = now_iso()
            search: Record = {
                "id": self.new_id(),
                "name": name,
                "asset_ids": ids,
                "search_criteria_document": {
                    "id": None,
                    "name": name,
                    "criteria": {
                        "doc_types": ["assets"],
                        "query": "",
                        "filter": {"operator": "AND", "terms": []},
                    },
                    "date_created": stamp,
                    "date_modified": stamp,
                },
            }
            search["search_criteria_document"]["id"] = search["id"]
            self.saved_searches[search["id"]] = search
            return search

    def saved_search(self, search_id: str) -> Record:
        """The saved search, or NotFound."""
        with self.lock:
            if search_id not in self.saved_searches:
                raise NotFound("Saved search does not exist")
            return self.saved_searches[search_id]

    def expand(self, object_type: str, object_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Asset ids reached from objects, each once, in order: collections recursively
        (sub-collections included), saved searches to their results. Returns (asset ids,
        messages about objects that do not exist)."""
        with self.lock:
            found: dict[str, None] = {}
            problems: list[str] = []
            seen: set[str] = set()

            def walk(collection_id: str) -> None:
                if collection_id in seen:
                    return
                seen.add(collection_id)
                for kind, child in self.contents.get(collection_id, []):
                    if kind == "assets":
                        found.setdefault(child)
                    else:
                        walk(child)

            for object_id in object_ids:
                if object_type == "assets":
                    if object_id in self.assets:
                        found.setdefault(object_id)
                    else:
                        problems.append(f"Asset {object_id} does not exist")
                elif object_type == "collections":
                    if object_id in self.collections:
                        walk(object_id)
                    else:
                        problems.append(f"Collection {object_id} does not exist")
                elif object_id in self.saved_searches:
                    for asset_id in self.saved_searches[object_id]["asset_ids"]:
                        found.setdefault(asset_id)
                else:
                    problems.append(f"Saved search {object_id} does not exist")
            return list(found), problems

