"""iconik's list envelope, in its two styles: page numbers and ``last_id`` cursors.

``next_url`` is a host-relative ``/API/...`` path, as iconik gives it, so a client that follows
``next_url`` (the safe way) works unchanged; ``per_page`` is capped by the sandbox's
``per_page_cap`` so that tests walk through several pages with little data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from flask import request

from iconik_sandbox.errors import BadRequest, NotFound

DEFAULT_PER_PAGE = 10


def per_page(cap: int) -> int:
    """The page size asked for (default 10, as iconik), at most ``cap``."""
    raw = request.args.get("per_page", str(DEFAULT_PER_PAGE))
    try:
        size = int(raw)
    except ValueError:
        raise BadRequest("per_page: not an integer") from None
    if size < 1:
        raise BadRequest("per_page: must be at least 1")
    return min(size, cap)


def _url(**changes: Any) -> str:
    args = request.args.to_dict()
    args.update({k: str(v) for k, v in changes.items()})
    return f"{request.path}?{urlencode(args)}"


def by_page(
    items: Sequence[Any], cap: int, view: Callable[[Any], dict[str, Any] | None] = dict
) -> dict[str, Any]:
    """A page-number envelope of ``items`` for the current request's ``page``/``per_page``.

    A page past the last one answers 404, as iconik documents ("Requested page does not exist").
    An item whose ``view`` is None (gone since a scroll's snapshot) is left out of its page.
    """
    size = per_page(cap)
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        raise BadRequest("page: not an integer") from None
    if page < 1:
        raise BadRequest("page: must be at least 1")
    total = len(items)
    pages = math.ceil(total / size)
    if page > max(pages, 1):
        raise NotFound("Requested page does not exist")
    chunk = items[(page - 1) * size : page * size]
    return {
        "objects": [shown for shown in map(view, chunk) if shown is not None],
        "page": page,
        "pages": pages,
        "per_page": size,
        "total": total,
        "first_url": _url(page=1, per_page=size),
        "prev_url": _url(page=page - 1, per_page=size) if page > 1 else None,
        "next_url": _url(page=page + 1, per_page=size) if page < pages else None,
        "last_url": _url(page=max(pages, 1), per_page=size),
    }


def by_cursor(
    items: Sequence[dict[str, Any]],
    cap: int,
    view: Callable[[dict[str, Any]], dict[str, Any]] = dict,
    empty_404: str | None = None,
) -> dict[str, Any]:
    """A ``last_id`` cursor envelope: items ordered by id, those after ``last_id`` first.

    ``empty_404``: when set, an empty list answers 404 with that message (what iconik's spec
    documents for these endpoints; the sandbox does it only when asked to).
    """
    size = per_page(cap)
    ordered = sorted(items, key=lambda item: item["id"])
    if empty_404 is not None and not ordered:
        raise NotFound(empty_404)
    last_id = request.args.get("last_id")
    before = sum(1 for item in ordered if last_id is not None and item["id"] <= last_id)
    chunk = ordered[before : before + size]
    more = before + size < len(ordered)
    total = len(ordered)
    return {
        "objects": [view(item) for item in chunk],
        "page": before // size + 1,
        "pages": math.ceil(total / size),
        "per_page": size,
        "total": total,
        "first_url": _first_url(size),
        "prev_url": None,
        "next_url": _url(per_page=size, last_id=chunk[-1]["id"]) if more and chunk else None,
        "last_url": None,
    }


def _first_url(size: int) -> str:
    args = {k: v for k, v in request.args.to_dict().items() if k != "last_id"}
    args["per_page"] = str(size)
    return f"{request.path}?{urlencode(args)}"
