"""The iconik client's paging: next_url followed, on iconik only, never redirected elsewhere."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses

from b2_iconik.base.errors import IconikHTTPError
from b2_iconik.iconik.client import IconikClient
from tests.iconik.support import (
    ASSET,
    BASE,
    COLLECTION,
    CONTENTS,
    FILE_SET,
    LL,
    TOKEN,
)

# -- paging ----------------------------------------------------------------------------------------


def paged(pages: dict[str, dict[str, Any]], seen: list[str]) -> Any:
    """A responses callback answering by the ``page`` query parameter."""

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(request.url or "")
        page = request.params.get("page", "1")  # type: ignore[attr-defined]
        return 200, {"Content-Type": "application/json"}, json.dumps(pages[page])

    return answer


def test_pagination_follows_next_url(client: IconikClient, mock: responses.RequestsMock) -> None:
    pages = {
        "1": {"objects": [{"id": "1"}, {"id": "2"}], "next_url": f"{CONTENTS}?page=2"},
        "2": {"objects": [{"id": "3"}], "next_url": "/API/assets/v1/collections/"
              f"{COLLECTION}/contents/?page=3"},
        "3": {"objects": [{"id": "4"}, {"id": "5"}], "next_url": None},
    }
    seen: list[str] = []
    mock.add_callback(responses.GET, CONTENTS, callback=paged(pages, seen))
    ids = [item["id"] for item in client.collection_contents(COLLECTION)]
    assert ids == ["1", "2", "3", "4", "5"]
    assert len(seen) == 3
    first = mock.calls[0].request.params
    assert first["per_page"] == "100" and first["object_types"] == "assets,collections"
    for call in mock.calls:
        assert call.request.headers["Auth-Token"] == TOKEN


def test_next_url_to_another_host_stays_on_iconik(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    evil_calls: list[str] = []
    evil = f"https://evil.test/API/assets/v1/collections/{COLLECTION}/contents/"
    pages = {
        "1": {"objects": [{"id": "1"}], "next_url": f"{evil}?page=2"},
        "2": {"objects": [{"id": "2"}]},
    }
    seen: list[str] = []
    mock.add_callback(responses.GET, CONTENTS, callback=paged(pages, seen))
    mock.add_callback(responses.GET, evil, callback=paged(pages, evil_calls))
    ids = [item["id"] for item in client.collection_contents(COLLECTION)]
    assert ids == ["1", "2"]
    assert evil_calls == []
    assert all(call.request.url.startswith(BASE + "/") for call in mock.calls)
    assert seen[1] == f"{CONTENTS}?page=2"


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.test/API/assets/v1/collections/x/contents/?page=2",
        "https://evil.test:443/API/assets/v1/collections/x/contents/?page=2",
        "https://iconik.test@evil.test/API/assets/v1/collections/x/contents/?page=2",
        "https://evil.test\\@iconik.test/API/?page=2",
        "\\\\evil.test/API/?page=2",
        "https:evil.test/API/?page=2",
        "ftp://evil.test/API/?page=2",
        "/..//evil.test/API/?page=2",
        "@evil.test/API/?page=2",
    ],
)
def test_no_next_url_takes_the_token_to_another_host(
    client: IconikClient, mock: responses.RequestsMock, next_url: str
) -> None:
    import re

    mock.get(CONTENTS, json={"objects": [{"id": "1"}], "next_url": next_url})
    mock.add(responses.GET, re.compile(r"https://iconik\.test/.*"), json={"objects": []})
    mock.add(responses.GET, re.compile(r"(?!https://iconik\.test/).*"), json={"objects": []})
    list(client.collection_contents(COLLECTION))
    assert len(mock.calls) == 2
    for call in mock.calls:
        assert call.request.url.startswith(BASE + "/"), call.request.url


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed(
    client: IconikClient, mock: responses.RequestsMock, status: int
) -> None:
    # requests would re-send the Auth-Token header to the new host: only Authorization is
    # dropped on a cross-host redirect.
    evil = "https://evil.test/steal"
    mock.get(f"{BASE}/API/files/v1/storages/{LL}/", status=status, headers={"Location": evil})
    mock.delete(f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/{FILE_SET}/", status=status,
                headers={"Location": evil})
    mock.add(responses.GET, evil, json={"id": LL})
    mock.add(responses.DELETE, evil, status=204)
    with pytest.raises(IconikHTTPError) as caught:
        client.get_storage(LL)
    assert caught.value.status == status
    with pytest.raises(IconikHTTPError):  # a redirected delete is not a delete done
        client.delete_file_set(ASSET, FILE_SET)
    assert [c.request.url for c in mock.calls if "evil" in c.request.url] == []


def test_repeating_next_url_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    pages = {
        "1": {"objects": [{"id": "1"}], "next_url": f"{CONTENTS}?page=2"},
        "2": {"objects": [{"id": "2"}], "next_url": f"{CONTENTS}?page=2"},
    }
    seen: list[str] = []
    mock.add_callback(responses.GET, CONTENTS, callback=paged(pages, seen))
    with pytest.raises(IconikHTTPError, match="repeats"):
        list(client.collection_contents(COLLECTION))
    assert len(seen) == 2


def test_list_answer_is_taken_as_objects(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/formats/", json=[{"name": "ORIGINAL"}])
    assert client.asset_formats(ASSET) == [{"name": "ORIGINAL"}]


def test_saved_search_results(client: IconikClient, mock: responses.RequestsMock) -> None:
    search = "5e5e5e5e-0000-4000-8000-000000000001"
    mock.get(f"{BASE}/API/search/v1/search/saved/{search}/", json={"objects": [{"id": "a"}]})
    assert list(client.saved_search_results(search)) == [{"id": "a"}]
