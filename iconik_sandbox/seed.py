"""Seeding a realistic catalogue: nested collections, assets in several of them, formats, and
file sets on B2 and/or LucidLink, including the bad cases the Remove safety rule must catch.

Everything comes from ``random.Random(seed)`` (ids included), so a catalogue is the same on
every run and a failing end-to-end test can be replayed.

Categories of assets (every format of an asset is in the same category, except that the bad B2
files of ``b2_missing``, ``b2_wrong_size`` and ``b2_bad_status`` are in the FIRST format only;
the other formats of those assets are healthy on both storages):

* ``on_both``: healthy copies on B2 and LucidLink (Remove may delete the LucidLink copy);
* ``only_b2``: on B2 only (Add copies them);
* ``only_ll``: on LucidLink only, no B2 file set (Remove must copy to B2 first);
* ``b2_missing``: on both, the B2 file is MISSING;
* ``b2_wrong_size``: on both, the B2 file is CLOSED but one byte longer;
* ``b2_bad_status``: on both, the B2 file is GROWING or FAILED (alternately).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from iconik_sandbox.state import Record, State


@dataclass(frozen=True)
class Catalogue:
    """What to seed. ``on_b2``/``on_ll`` are the shares of healthy assets with a copy there
    (every asset has at least one copy); the ``b2_*`` counts are taken first and all have a
    LucidLink copy; ``duplicates`` assets are put in a second collection too."""

    assets: int = 50
    collections_depth: int = 3
    collections_per_level: int = 2
    formats: tuple[str, ...] = ("ORIGINAL", "PPRO_PROXY")
    on_b2: float = 1.0
    on_ll: float = 0.5
    duplicates: int = 5
    b2_missing: int = 2
    b2_wrong_size: int = 1
    b2_bad_status: int = 1
    files_per_file_set: int = 1
    checksum_share: float = 1.0
    saved_searches: int = 1
    b2_storage_name: str = "B2 masters"
    ll_storage_name: str = "LucidLink filespace"
    seed: int = 7

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalogue:
        """Build from JSON (unknown keys raise ``TypeError``; lists become tuples)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TypeError(f"unknown catalogue fields: {sorted(unknown)}")
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)


@dataclass
class SeedResult:
    """The ids of what was seeded, by role and category."""

    b2_storage_id: str
    ll_storage_id: str
    root_collection_id: str
    collection_ids: list[str] = field(default_factory=list)
    saved_search_ids: list[str] = field(default_factory=list)
    asset_ids: list[str] = field(default_factory=list)
    on_both: list[str] = field(default_factory=list)
    only_b2: list[str] = field(default_factory=list)
    only_ll: list[str] = field(default_factory=list)
    b2_missing: list[str] = field(default_factory=list)
    b2_wrong_size: list[str] = field(default_factory=list)
    b2_bad_status: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    @property
    def on_ll(self) -> list[str]:
        """Every asset with a LucidLink copy."""
        return [
            *self.on_both,
            *self.only_ll,
            *self.b2_missing,
            *self.b2_wrong_size,
            *self.b2_bad_status,
        ]

    @property
    def unsafe(self) -> list[str]:
        """Assets on LucidLink whose B2 copy is absent or bad: Remove must keep them."""
        return [*self.only_ll, *self.b2_missing, *self.b2_wrong_size, *self.b2_bad_status]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (with ``on_ll`` and ``unsafe``)."""
        return {**asdict(self), "on_ll": self.on_ll, "unsafe": self.unsafe}


def seed(state: State, catalogue: Catalogue) -> SeedResult:
    """Create the catalogue in ``state`` (storages reused when one of that method exists)."""
    rng = random.Random(catalogue.seed)
    bad = catalogue.b2_missing + catalogue.b2_wrong_size + catalogue.b2_bad_status
    if bad > catalogue.assets:
        raise ValueError("more bad assets asked for than assets")
    with state.lock:
        state.seeded_ids(random.Random(f"ids:{catalogue.seed}:{len(state.assets)}"))
        try:
            b2 = _storage(state, "B2", catalogue.b2_storage_name)
            ll = _storage(state, "FILE", catalogue.ll_storage_name)
            collections = _collections(state, catalogue)
            result = SeedResult(
                b2["id"],
                ll["id"],
                collections[0],
                collection_ids=collections,
                formats=list(catalogue.formats),
            )
            for index in range(catalogue.assets):
                _asset(state, catalogue, rng, index, bad, result, b2["id"], ll["id"])
            placed: dict[str, list[str]] = {c: [] for c in collections}
            for index, asset_id in enumerate(result.asset_ids):
                placed[collections[index % len(collections)]].append(asset_id)
            for index, asset_id in enumerate(result.asset_ids[: catalogue.duplicates]):
                home = index % len(collections)
                placed[collections[(home + 1) % len(collections)]].append(asset_id)
                result.duplicated.append(asset_id)
            for collection_id, members in placed.items():
                state.add_to_collection(collection_id, *members)
            for n in range(catalogue.saved_searches):
                picked = rng.sample(result.asset_ids, k=min(10, len(result.asset_ids)))
                result.saved_search_ids.append(
                    state.add_saved_search(f"Sandbox search {n + 1}", picked)["id"]
                )
        finally:
            state.seeded_ids(None)
    return result


def _storage(state: State, method: str, name: str) -> Record:
    for storage in state.storages.values():
        if storage["method"] == method and storage["purpose"] == "FILES":
            return storage
    return state.add_storage(name, method)


def _collections(state: State, catalogue: Catalogue) -> list[str]:
    """A root collection and ``collections_per_level`` children per level, ``depth`` deep."""
    root = state.add_collection(f"Sandbox root {catalogue.seed}")
    ids, level = [root["id"]], [root["id"]]
    for depth in range(1, catalogue.collections_depth + 1):
        nxt = []
        for parent in level:
            for n in range(catalogue.collections_per_level):
                title = f"{state.collections[parent]['title']} / L{depth}-{n + 1}"
                nxt.append(state.add_collection(title, parent)["id"])
        ids.extend(nxt)
        level = nxt
    return ids


def _asset(
    state: State,
    catalogue: Catalogue,
    rng: random.Random,
    index: int,
    bad: int,
    result: SeedResult,
    b2_id: str,
    ll_id: str,
) -> None:
    asset = state.add_asset(f"clip_{catalogue.seed}_{index + 1:04d}")
    asset_id = asset["id"]
    result.asset_ids.append(asset_id)
    category = "healthy"
    if index < catalogue.b2_missing:
        category = "b2_missing"
    elif index < catalogue.b2_missing + catalogue.b2_wrong_size:
        category = "b2_wrong_size"
    elif index < bad:
        category = "b2_bad_status"
    if category == "healthy":
        on_b2 = rng.random() < catalogue.on_b2
        on_ll = rng.random() < catalogue.on_ll
        if not on_b2 and not on_ll:
            on_b2 = True
        category = "on_both" if on_b2 and on_ll else ("only_b2" if on_b2 else "only_ll")
    else:
        on_b2 = on_ll = True
    getattr(result, category).append(asset_id)
    for fmt_index, fmt in enumerate(catalogue.formats):
        files: list[Record] = [
            {
                "size": rng.randint(1_000_000, 5_000_000_000),
                "checksum": (
                    f"{rng.getrandbits(128):032x}"
                    if rng.random() < catalogue.checksum_share
                    else None
                ),
                "status": "CLOSED",
                "original_name": f"{asset['title']}_{fmt.lower()}"
                + (f"_{n}" if n else "")
                + ".mov",
            }
            for n in range(catalogue.files_per_file_set)
        ]
        if on_ll:
            state.add_file_set(asset_id, fmt, ll_id, files=files)
        if on_b2:
            b2_files = [dict(f) for f in files]
            if fmt_index == 0 and category == "b2_missing":
                b2_files[0]["status"] = "MISSING"
            elif fmt_index == 0 and category == "b2_wrong_size":
                b2_files[0]["size"] += 1
            elif fmt_index == 0 and category == "b2_bad_status":
                b2_files[0]["status"] = "GROWING" if len(result.b2_bad_status) % 2 else "FAILED"
            state.add_file_set(asset_id, fmt, b2_id, files=b2_files)
