"""Random iconik catalogues, as plain values hypothesis can shrink, built straight into State.

A catalogue is a few assets, each with file sets of several formats on B2 and on LucidLink,
nested and overlapping collections (an asset in several, shared sub-collections, cycles) and a
saved search. The B2 side of a format is drawn as a *variant* of its LucidLink side (an exact
copy, a byte longer, another checksum, a file missing, a file still OPEN...), because a B2 copy
drawn independently would almost never match and the interesting cases are the near misses.
Sizes and checksums come from tiny alphabets for the same reason: collisions are the point.

Building writes State directly (no HTTP), so an example starts in well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from hypothesis import strategies as st

from iconik_sandbox.state import State

#: Every format an asset may have; PROXY is never requested, so Remove must leave it alone.
FORMATS = ("ORIGINAL", "PPRO_PROXY", "PROXY")
#: The formats an action may ask for.
REQUESTABLE = ("ORIGINAL", "PPRO_PROXY")
#: File statuses of an upload still being written, and of files that are not content.
IN_PROGRESS = ("OPEN", "GROWING", "AWAITED")
BAD = ("MISSING", "FAILED", "DELETED")
SIZES = (1, 2, 1024)
#: "AA" and "aa" are the same hex digest in two spellings; "ff" is a checksum no file starts with.
CHECKSUMS = ("aa", "bb", "AA")
#: How a B2 file set of a format relates to the LucidLink one (first: the shrinking target).
VARIANTS = (
    "copy", "copy", "copy", "copy", "copy", "copy", "copy", "copy", "absent", "size", "checksum",
    "no_checksum", "status", "fewer", "more", "reorder", "empty", "random",
)
#: Where the second B2 file set's variants start (it is a near miss, never an exact copy).
NEAR_MISSES = VARIANTS.index("size")
#: When (fake seconds after the start) an upload still being written closes, if it ever does.
CLOSING_TIMES = (5.0, 60.0, 600.0, 5000.0)
#: Most assets in a catalogue: every action's message can then name each one.
MAX_ASSETS = 5

T = TypeVar("T")
Draw = Callable[[st.SearchStrategy[Any]], Any]


@dataclass(frozen=True)
class FileSpec:
    """One file: its size, checksum (None: iconik has none) and status."""

    size: int
    checksum: str | None
    status: str = "CLOSED"


@dataclass(frozen=True)
class SetSpec:
    """One file set.

    Attributes:
        storage: "b2" or "ll".
        listed_count: the ``file_count`` iconik answers when it is not the true count (a listing
            cut short, or a count that ignores some files); None: the truth.
        closes_at: fake seconds after the start when its files still being written close.
    """

    storage: str
    format: str
    files: tuple[FileSpec, ...]
    status: str = "ACTIVE"
    listed_count: int | None = None
    closes_at: float | None = None


@dataclass(frozen=True)
class CatalogueSpec:
    """Assets (as their file sets), collections (children as ("a"|"c", index)) and searches."""

    assets: tuple[tuple[SetSpec, ...], ...]
    collections: tuple[tuple[tuple[str, int], ...], ...] = ()
    searches: tuple[tuple[int, ...], ...] = ()


@dataclass
class Built:
    """The ids of a catalogue built in State, in the order of its spec."""

    b2_storage_id: str
    ll_storage_id: str
    asset_ids: list[str]
    collection_ids: list[str]
    search_ids: list[str]
    #: file set id -> the file_count its listing answers (only where it is not the truth)
    listed_counts: dict[str, int]
    #: (fake seconds after the start, asset id, file set id) of uploads that close later
    closings: list[tuple[float, str, str]]
    #: assets with a file set whose listing claims more files than it has
    lying: set[str]


files_st = st.builds(
    FileSpec,
    size=st.sampled_from(SIZES),
    checksum=st.none() | st.sampled_from(CHECKSUMS),
    status=st.just("CLOSED") | st.sampled_from(IN_PROGRESS + BAD),
)
closed_files_st = st.builds(
    FileSpec, size=st.sampled_from(SIZES), checksum=st.none() | st.sampled_from(CHECKSUMS)
)


def _listed(draw: Draw, files: tuple[FileSpec, ...]) -> int | None:
    count = len(files)
    return draw(st.sampled_from((None, None, None, count + 1, max(count - 1, 0))))


def _closing(draw: Draw, files: tuple[FileSpec, ...]) -> float | None:
    if not any(f.status in IN_PROGRESS for f in files):
        return None
    return draw(st.none() | st.sampled_from(CLOSING_TIMES))


def _pick(draw: Draw, items: tuple[T, ...]) -> int:
    return int(draw(st.integers(0, len(items) - 1)))


def _variant(
    draw: Draw, variant: str, ll: tuple[FileSpec, ...] | None
) -> tuple[FileSpec, ...] | None:
    """The B2 files of a format, as ``variant`` of the LucidLink files (B2 masters are CLOSED)."""
    if variant == "absent":
        return None
    if ll is None or variant == "random":
        return tuple(draw(st.lists(files_st, min_size=0, max_size=3)))
    base = tuple(replace(f, status="CLOSED") for f in ll)
    if variant == "copy":
        return base
    if variant == "reorder":
        return base[::-1]
    if variant == "empty":
        return ()
    if variant == "more":
        return (*base, draw(closed_files_st))
    i = _pick(draw, base)
    if variant == "fewer":
        return base[:i] + base[i + 1 :]
    changed = {
        "size": lambda f: replace(f, size=f.size + 1),
        "checksum": lambda f: replace(f, checksum="ff"),
        "no_checksum": lambda f: replace(f, checksum=None),
        "status": lambda f: replace(f, status=draw(st.sampled_from(IN_PROGRESS + BAD))),
    }[variant](base[i])
    return (*base[:i], changed, *base[i + 1 :])


@st.composite
def format_sets(draw: Draw, fmt: str) -> tuple[SetSpec, ...]:
    """The file sets of one format of one asset: LucidLink, B2, and sometimes more."""
    sets: list[SetSpec] = []
    ll: tuple[FileSpec, ...] | None = None
    if draw(st.integers(0, 3)) < 3:
        ll = tuple(draw(st.lists(closed_files_st, min_size=1, max_size=3)))
        if draw(st.integers(0, 3)) == 3:  # one file still being written, missing, deleted...
            i = _pick(draw, ll)
            odd = replace(ll[i], status=draw(st.sampled_from(IN_PROGRESS + BAD)))
            ll = (*ll[:i], odd, *ll[i + 1 :])
    if ll is not None:
        sets.append(SetSpec("ll", fmt, ll, listed_count=_listed(draw, ll),
                            closes_at=_closing(draw, ll)))
    b2 = _variant(draw, draw(st.sampled_from(VARIANTS)), ll)
    if b2 is not None:
        sets.append(SetSpec("b2", fmt, b2, listed_count=_listed(draw, b2),
                            closes_at=_closing(draw, b2)))
    if draw(st.integers(0, 3)) == 3:  # a second ACTIVE B2 file set of the same format
        other = _variant(draw, draw(st.sampled_from(VARIANTS[NEAR_MISSES:])), ll) or ()
        sets.append(SetSpec("b2", fmt, other))
    if draw(st.integers(0, 3)) == 3:  # a DELETED file set beside the ACTIVE ones
        storage = draw(st.sampled_from(("b2", "ll")))
        files = tuple(replace(f, status="DELETED") for f in (ll or b2 or ()))
        sets.append(SetSpec(storage, fmt, files, status="DELETED"))
    return tuple(sets)


@st.composite
def asset_sets(draw: Draw) -> tuple[SetSpec, ...]:
    formats = draw(st.lists(st.sampled_from(FORMATS), unique=True, min_size=1, max_size=3))
    return tuple(s for fmt in formats for s in draw(format_sets(fmt)))


@st.composite
def catalogues(draw: Draw, max_assets: int = MAX_ASSETS) -> CatalogueSpec:
    """A catalogue: assets, collections (overlapping, nested, maybe cyclic) and a search."""
    assets = tuple(draw(st.lists(asset_sets(), min_size=1, max_size=max_assets)))
    n_collections = draw(st.integers(0, 3))
    child = st.tuples(st.sampled_from(("a", "c")), st.integers(0, max_assets - 1))
    collections = []
    for _ in range(n_collections):
        children = draw(st.lists(child, max_size=5))
        collections.append(tuple(
            (kind, index % (len(assets) if kind == "a" else n_collections))
            for kind, index in children
        ))
    searches = tuple(
        tuple(sorted({i % len(assets) for i in draw(st.lists(st.integers(0, 9), max_size=4))}))
        for _ in range(draw(st.integers(0, 1)))
    )
    return CatalogueSpec(assets, tuple(collections), searches)


def build(state: State, spec: CatalogueSpec) -> Built:
    """Create the catalogue in an empty State; returns its ids."""
    with state.lock:
        b2 = state.add_storage("B2 masters", "B2")["id"]
        ll = state.add_storage("LucidLink filespace", "FILE")["id"]
        built = Built(b2, ll, [], [], [], {}, [], set())
        for index, sets in enumerate(spec.assets):
            asset_id = state.add_asset(f"clip-{index:02d}")["id"]
            built.asset_ids.append(asset_id)
            for s in sets:
                files = [
                    {"size": f.size, "checksum": f.checksum,
                     "status": "DELETED" if s.status == "DELETED" else f.status}
                    for f in s.files
                ]
                fs = state.add_file_set(asset_id, s.format, b2 if s.storage == "b2" else ll,
                                        files=files, status=s.status)
                if s.listed_count is not None:
                    built.listed_counts[fs["id"]] = s.listed_count
                    if s.listed_count > len(s.files):
                        built.lying.add(asset_id)
                if s.closes_at is not None:
                    built.closings.append((s.closes_at, asset_id, fs["id"]))
        for index in range(len(spec.collections)):
            built.collection_ids.append(state.add_collection(f"bin-{index}")["id"])
        for index, children in enumerate(spec.collections):
            ids = [built.asset_ids[i] if kind == "a" else built.collection_ids[i]
                   for kind, i in children]
            state.add_to_collection(built.collection_ids[index], *ids)
        for index, members in enumerate(spec.searches):
            ids = [built.asset_ids[i] for i in members]
            built.search_ids.append(state.add_saved_search(f"search-{index}", ids)["id"])
    return built


def close_uploads(state: State, file_set_id: str) -> None:
    """A late closing upload: the file set's files still being written become CLOSED."""
    with state.lock:
        for f in state.files_of(file_set_id=file_set_id):
            if f["status"] in IN_PROGRESS:
                state.set_file_status(f["id"], "CLOSED")
