"""Expanding a selection (b2_iconik.rules.selection.expand) against a small fake of iconik.

The fake holds collections and saved searches as lists of ``{"id", "object_type"}`` dicts and
counts the calls, so the tests check both which assets come out (and in what order) and that
each collection is listed only once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from b2_iconik.base.errors import IconikHTTPError
from b2_iconik.rules.payload import CustomAction
from b2_iconik.rules.selection import expand

TOKEN = "user-token-abcdef0123"


def asset(i: str) -> dict[str, Any]:
    return {"id": i, "object_type": "assets"}


def coll(i: str) -> dict[str, Any]:
    return {"id": i, "object_type": "collections"}


class FakeIconik:
    def __init__(
        self,
        collections: dict[str, list[dict[str, Any]]] | None = None,
        searches: dict[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.collections = collections or {}
        self.searches = searches or {}
        self.collection_calls: Counter[str] = Counter()
        self.search_calls: Counter[str] = Counter()

    def collection_contents(self, collection_id: str) -> Iterator[dict[str, Any]]:
        self.collection_calls[collection_id] += 1
        if collection_id not in self.collections:
            raise IconikHTTPError(404, ["no such collection"], "GET", collection_id)
        return iter(self.collections[collection_id])

    def saved_search_results(self, search_id: str) -> list[dict[str, Any]]:
        self.search_calls[search_id] += 1
        return list(self.searches[search_id])


def selection(
    assets: tuple[str, ...] = (), collections: tuple[str, ...] = (), searches: tuple[str, ...] = ()
) -> CustomAction:
    return CustomAction(
        context="BULK",
        asset_ids=assets,
        collection_ids=collections,
        saved_search_ids=searches,
        auth_token=TOKEN,
    )


def test_direct_assets_only() -> None:
    fake = FakeIconik()
    assert expand(fake, selection(assets=("a1", "a2"))) == ["a1", "a2"]
    assert not fake.collection_calls and not fake.search_calls


def test_nested_collections_recursively() -> None:
    fake = FakeIconik(
        {
            "top": [asset("a1"), coll("mid"), asset("a2")],
            "mid": [asset("a3"), coll("deep")],
            "deep": [asset("a4")],
        }
    )
    assert expand(fake, selection(collections=("top",))) == ["a1", "a2", "a3", "a4"]
    assert fake.collection_calls == {"top": 1, "mid": 1, "deep": 1}


def test_cycle_terminates_and_visits_each_once() -> None:
    fake = FakeIconik(
        {
            "A": [asset("a1"), coll("B")],
            "B": [asset("b1"), coll("A")],
        }
    )
    assert expand(fake, selection(collections=("A",))) == ["a1", "b1"]
    assert fake.collection_calls == {"A": 1, "B": 1}


def test_self_containing_collection() -> None:
    fake = FakeIconik({"A": [coll("A"), asset("a1")]})
    assert expand(fake, selection(collections=("A",))) == ["a1"]
    assert fake.collection_calls == {"A": 1}


def test_shared_sub_collection_visited_once() -> None:
    fake = FakeIconik(
        {
            "left": [coll("shared"), asset("l1")],
            "right": [coll("shared"), asset("r1")],
            "shared": [asset("s1")],
        }
    )
    assets = expand(fake, selection(collections=("left", "right")))
    assert assets == ["l1", "r1", "s1"]
    assert fake.collection_calls == {"left": 1, "right": 1, "shared": 1}


def test_same_collection_selected_twice_visited_once() -> None:
    fake = FakeIconik({"A": [asset("a1")], "B": [coll("A")]})
    assert expand(fake, selection(collections=("A", "B", "A"))) == ["a1"]
    assert fake.collection_calls == {"A": 1, "B": 1}


def test_asset_reached_several_times_appears_once_in_first_reached_order() -> None:
    fake = FakeIconik(
        {
            "A": [asset("x"), asset("a1"), coll("B")],
            "B": [asset("a1"), asset("b1"), asset("d1")],
        },
        {"S": [asset("b1"), asset("s1"), asset("x")]},
    )
    assets = expand(fake, selection(assets=("d1",), collections=("A",), searches=("S",)))
    assert assets == ["d1", "x", "a1", "b1", "s1"]
    assert len(assets) == len(set(assets))


def test_direct_assets_come_first() -> None:
    fake = FakeIconik({"A": [asset("c1")]}, {"S": [asset("s1")]})
    assets = expand(fake, selection(assets=("d2", "d1"), collections=("A",), searches=("S",)))
    assert assets == ["d2", "d1", "c1", "s1"]


def test_saved_search_results() -> None:
    fake = FakeIconik(searches={"S1": [asset("s1"), asset("s2")], "S2": [asset("s3")]})
    assert expand(fake, selection(searches=("S1", "S2"))) == ["s1", "s2", "s3"]
    assert fake.search_calls == {"S1": 1, "S2": 1}


def test_saved_search_collections_are_expanded() -> None:
    fake = FakeIconik(
        {"found": [asset("f1"), coll("inner")], "inner": [asset("i1")]},
        {"S": [asset("s1"), coll("found"), asset("s2")]},
    )
    assert expand(fake, selection(searches=("S",))) == ["s1", "s2", "f1", "i1"]
    assert fake.collection_calls == {"found": 1, "inner": 1}


def test_items_without_id_or_of_other_types_are_skipped() -> None:
    fake = FakeIconik(
        {
            "A": [
                {"object_type": "assets"},
                {"id": "", "object_type": "assets"},
                {"id": "q1", "object_type": "queries"},
                {"id": "a1"},  # no object_type: an asset
                asset("a2"),
            ]
        }
    )
    assert expand(fake, selection(collections=("A",))) == ["a1", "a2"]


def test_empty_collection() -> None:
    fake = FakeIconik({"A": []})
    assert expand(fake, selection(collections=("A",))) == []


def test_missing_collection_raises() -> None:
    fake = FakeIconik({"A": [coll("gone")]})
    with pytest.raises(IconikHTTPError) as caught:
        expand(fake, selection(collections=("A",)))
    assert caught.value.status == 404


def test_large_flat_collection_keeps_order() -> None:
    ids = [f"a{i:04d}" for i in range(1000)]
    fake = FakeIconik({"A": [asset(i) for i in ids]})
    assert expand(fake, selection(collections=("A",))) == ids


def test_collection_from_selection_and_saved_search_visited_once() -> None:
    fake = FakeIconik({"A": [asset("a1"), coll("B")], "B": [asset("b1")]}, {"S": [coll("A")]})
    assert expand(fake, selection(collections=("A",), searches=("S",))) == ["a1", "b1"]
    assert fake.collection_calls == {"A": 1, "B": 1}


def test_collection_found_by_two_saved_searches_visited_once() -> None:
    fake = FakeIconik({"A": [asset("a1")]}, {"S1": [coll("A")], "S2": [coll("A")]})
    assert expand(fake, selection(searches=("S1", "S2"))) == ["a1"]
    assert fake.collection_calls == {"A": 1}
