"""The iconik client (b2_iconik.iconik.client): headers, timeouts, 404s, deletes, bulk copy."""

from __future__ import annotations

import json

import pytest
import responses

from b2_iconik.base.errors import IconikHTTPError
from b2_iconik.iconik import session
from b2_iconik.iconik.client import IconikClient
from tests.iconik.support import (
    APP_ID,
    ASSET,
    B2,
    BASE,
    BULK,
    COLLECTION,
    CONTENTS,
    FILE_SET,
    FILE_SET_URL,
    JOB,
    JOBS,
    LL,
    TOKEN,
    TOKEN_URL,
    fast_client,
)

# -- headers and timeouts ------------------------------------------------------------------------


def test_headers_sent(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{JOBS}{JOB}/", json={"id": JOB})
    assert client.get_job(JOB) == {"id": JOB}
    headers = mock.calls[0].request.headers
    assert headers["App-ID"] == APP_ID
    assert headers["Auth-Token"] == TOKEN


def test_token_not_in_repr(client: IconikClient) -> None:
    assert TOKEN not in repr(client)


def test_every_call_has_a_timeout(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/API/files/v1/storages/{LL}/", json={"id": LL})
    mock.get(f"{JOBS}{JOB}/", json={"id": JOB})
    mock.post(JOBS, json={"id": JOB})
    mock.patch(f"{JOBS}{JOB}/", json={})
    mock.post(BULK, json={"job_id": JOB})
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/formats/", json={"objects": []})
    mock.delete(f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/{FILE_SET}/", status=204)
    mock.get(CONTENTS, json={"objects": [{"id": "x"}], "next_url": f"{CONTENTS}?page=2"})
    mock.get(TOKEN_URL, json={"expires": "2030-01-01T00:00:00"})
    mock.post(TOKEN_URL, json={"token": "t2", "expires": "2030-01-01T00:00:00"}, status=201)

    client.get_storage(LL)
    client.get_job(JOB)
    client.create_job({"title": "t"})
    client.update_job(JOB, progress_processed=1)
    client.bulk_copy(LL, [ASSET], "ORIGINAL", source_id=B2)
    client.asset_formats(ASSET)
    client.delete_file_set(ASSET, FILE_SET)
    client.check_token()
    client.new_token()
    with pytest.raises(IconikHTTPError):  # the second page repeats itself
        list(client.collection_contents(COLLECTION))

    assert len(mock.calls) >= 11
    for call in mock.calls:
        assert call.request.req_kwargs["timeout"] == session.DEFAULT_TIMEOUT, call.request.url


def test_custom_timeout_is_used(mock: responses.RequestsMock) -> None:
    mock.get(f"{JOBS}{JOB}/", json={"id": JOB})
    with fast_client(timeout=(1.5, 4.0)) as c:
        c.get_job(JOB)
    assert mock.calls[0].request.req_kwargs["timeout"] == (1.5, 4.0)


# -- missing things --------------------------------------------------------------------------------


def test_404_is_none_for_single_objects(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/API/files/v1/storages/{LL}/", status=404, json={"errors": ["not found"]})
    mock.get(f"{JOBS}{JOB}/", status=404)
    assert client.get_storage(LL) is None
    assert client.get_job(JOB) is None


@pytest.mark.parametrize("kind", ["formats", "file_sets", "files"])
def test_404_is_empty_for_asset_listings(
    client: IconikClient, mock: responses.RequestsMock, kind: str
) -> None:
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/{kind}/", status=404)
    assert getattr(client, f"asset_{kind}")(ASSET) == []


def test_asset_listing_other_errors_raise(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/", status=403)
    with pytest.raises(IconikHTTPError) as caught:
        client.asset_file_sets(ASSET)
    assert caught.value.status == 403


def test_missing_collection_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(CONTENTS, status=404)
    with pytest.raises(IconikHTTPError) as caught:
        list(client.collection_contents(COLLECTION))
    assert caught.value.status == 404


def test_asset_listing_params(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/file_sets/", json={"objects": [{"id": "fs"}]})
    mock.get(f"{BASE}/API/files/v1/assets/{ASSET}/files/", json={"objects": [{"id": "f"}]})
    assert client.asset_file_sets(ASSET) == [{"id": "fs"}]
    assert client.asset_files(ASSET) == [{"id": "f"}]
    assert mock.calls[0].request.params == {"per_page": "100", "file_count": "true"}
    assert mock.calls[1].request.params == {"per_page": "100", "generate_signed_url": "false"}


# -- deleting --------------------------------------------------------------------------------------


def test_update_job_merges_metadata(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.patch(f"{JOBS}{JOB}/", json={})
    client.update_job(JOB, metadata={"seq_done": 2})
    client.update_job(JOB, status="FINISHED")
    first, second = (c.request for c in mock.calls)
    assert first.url.endswith("?merge_metadata=true") and "?" not in second.url
    assert json.loads(first.body) == {"metadata": {"seq_done": 2}}


def test_token_check_and_renewal(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(TOKEN_URL, json={"token": "t", "expires": "2030-01-01T00:00:00"})
    mock.post(TOKEN_URL, json={"token": "renewed", "expires": "2031-01-01T00:00:00"}, status=201)
    assert client.check_token()["expires"] == "2030-01-01T00:00:00"
    assert client.new_token()["token"] == "renewed"
    client.use_token("renewed")
    client.check_token()
    assert mock.calls[-1].request.headers["Auth-Token"] == "renewed"


def test_delete_file_set_skips_the_recycle_bin_in_one_call(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.delete(FILE_SET_URL, status=204)
    client.delete_file_set(ASSET, FILE_SET)
    assert [(c.request.method, c.request.url) for c in mock.calls] == [
        ("DELETE", FILE_SET_URL + "?immediately=true"),
    ]


def test_delete_file_set_already_gone_counts_as_deleted(
    client: IconikClient, mock: responses.RequestsMock
) -> None:
    mock.delete(FILE_SET_URL, status=404, json={"errors": ["File set doesn't exist"]})
    client.delete_file_set(ASSET, FILE_SET)
    assert len(mock.calls) == 1


def test_delete_file_set_error_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.delete(FILE_SET_URL, status=403, json={"errors": ["not allowed"]})
    with pytest.raises(IconikHTTPError) as caught:
        client.delete_file_set(ASSET, FILE_SET)
    assert caught.value.status == 403
    assert len(mock.calls) == 1


# -- bulk copy -------------------------------------------------------------------------------------


def test_bulk_copy_body(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(BULK, json={"job_id": JOB})
    assert client.bulk_copy(LL, [ASSET, "a2"], "PPRO_PROXY", source_id=B2) == JOB
    sent = json.loads(mock.calls[0].request.body)
    assert sent == {
        "object_ids": [ASSET, "a2"],
        "object_type": "assets",
        "format_name": "PPRO_PROXY",
        "preferred_original_storage_id": B2,
        "allow_duplicate_transfers": False,
    }


def test_bulk_copy_without_source(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(BULK, json={})
    assert client.bulk_copy(LL, [ASSET], "ORIGINAL") == ""
    assert "preferred_original_storage_id" not in json.loads(mock.calls[0].request.body)


def test_bulk_copy_takes_500_ids(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(BULK, json={"job_id": JOB})
    assert client.bulk_copy(LL, [f"id-{i}" for i in range(500)], "ORIGINAL") == JOB


@pytest.mark.parametrize("count", [0, 501])
def test_bulk_copy_refuses_too_many_or_none(
    client: IconikClient, mock: responses.RequestsMock, count: int
) -> None:
    with pytest.raises(ValueError, match="500"):
        client.bulk_copy(LL, [f"id-{i}" for i in range(count)], "ORIGINAL")
    assert len(mock.calls) == 0


def test_create_job_without_id_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.post(JOBS, json={})
    with pytest.raises(IconikHTTPError):
        client.create_job({})


def test_non_json_answer_raises(client: IconikClient, mock: responses.RequestsMock) -> None:
    mock.get(f"{JOBS}{JOB}/", body="not json", content_type="text/plain")
    with pytest.raises(IconikHTTPError, match="not JSON"):
        client.get_job(JOB)
