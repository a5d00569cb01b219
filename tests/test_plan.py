"""Planning an action (b2_iconik.rules.plan): shards that fit in a task, each asset in one."""

from __future__ import annotations

import pytest

from b2_iconik.base.errors import PayloadError
from b2_iconik.rules.payload import CustomAction
from b2_iconik.rules.plan import MAX_ROOTS, SHARD_BYTES, shard_of, shards

TOKEN = "user-token-0123456789"


def ids(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}0000000-0000-4000-8000-{n:012d}" for n in range(count))


def test_an_ordinary_selection_is_one_shard_without_the_token():
    selection = CustomAction("BULK", ids("a", 100), ids("c", 3), ids("5", 1), auth_token=TOKEN)
    (only,) = shards(selection)
    assert only.asset_ids == selection.asset_ids
    assert only.collection_ids == selection.collection_ids
    assert only.saved_search_ids == selection.saved_search_ids
    assert only.auth_token == ""


@pytest.mark.parametrize("roots", [0, 40, MAX_ROOTS])
def test_a_huge_selection_is_split_so_every_shard_fits(roots):
    selection = CustomAction("BULK", ids("a", 26_000), ids("c", roots), auth_token=TOKEN)
    parts = shards(selection)
    assert len(parts) > 1
    assert sorted(a for p in parts for a in p.asset_ids) == sorted(selection.asset_ids)
    for index, part in enumerate(parts):
        assert part.collection_ids == selection.collection_ids  # every shard walks them all
        assert all(shard_of(a, len(parts)) == index for a in part.asset_ids)
        assert 40 * (len(part.asset_ids) + roots) <= SHARD_BYTES


def test_shards_are_the_same_every_time():
    selection = CustomAction("BULK", ids("a", 5_000), ids("c", 2), auth_token=TOKEN)
    assert shards(selection) == shards(selection)


def test_shard_of_spreads_assets_and_ignores_one_shard():
    assets = ids("a", 4_000)
    counts = [sum(1 for a in assets if shard_of(a, 4) == r) for r in range(4)]
    assert min(counts) > 800
    assert {shard_of(a, 1) for a in assets} == {0}


def test_too_many_collections_and_searches_are_refused_naming_the_field():
    selection = CustomAction("BULK", (), ids("c", MAX_ROOTS), ids("5", 1), auth_token=TOKEN)
    with pytest.raises(PayloadError) as refused:
        shards(selection)
    assert refused.value.field == "collection_ids"
    assert str(MAX_ROOTS) in str(refused.value)
