"""Bad input that a schema-driven fuzzer does not make up, sent to the real server.

Each request goes over a socket to the function under functions-framework, steps in-process,
against the sandbox. Whatever it is, the answer is JSON and no 5xx, and a refused request
changes nothing in the sandbox. Without the right secret it costs no iconik call at all,
however large or strange the rest of the request.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from iconik_sandbox import Sandbox, SeedResult
from tests import leaks
from tests.scenarios.actions import click, seed, wait_for_job
from tests.scenarios.servers import SECRET

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@pytest.fixture
def ids(sb: Sandbox) -> SeedResult:
    return seed(sb, assets=4, on_ll=1.0, b2_missing=0, b2_wrong_size=0, b2_bad_status=0,
                duplicates=0)


def action(ids: SeedResult, token: str, **changes: Any) -> dict[str, Any]:
    """A valid custom-action body, with some fields changed."""
    return {"context": "ASSET", "asset_ids": ids.asset_ids[:1], "collection_ids": [],
            "saved_search_ids": [], "auth_token": token,
            "user_id": "0c0c0c0c-0000-4000-8000-000000000000", **changes}


def url(server: dict, ids: SeedResult, operation: str = "remove", **query: str) -> str:
    params = {"b2_storage_id": ids.b2_storage_id, "ll_storage_id": ids.ll_storage_id, **query}
    return f"{server['url']}/{operation}?" + "&".join(f"{k}={v}" for k, v in params.items())


def post(target: str, data: bytes | str | Iterator[bytes], secret: str | None = SECRET,
         content_type: str | None = "application/json") -> requests.Response:
    headers = {}
    if secret is not None:
        headers["x-bz-secret"] = secret
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = requests.post(target, data=data, headers=headers, timeout=30)
    leaks.record(f"answer to POST {urlsplit(target).path}", answer.text)
    return answer


def json_answer(answer: requests.Response) -> dict[str, Any]:
    """The answer's body: JSON, labelled as such, and not a server error."""
    assert answer.status_code < 500, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    body = json.loads(answer.content)
    assert isinstance(body, dict)
    return body


@contextmanager
def changes_nothing(sb: Sandbox, iconik_calls: bool = True) -> Iterator[None]:
    """The block's requests write nothing to iconik (and, if told, call it not at all)."""
    before, calls = sb.state.snapshot(), len(sb.requests)
    yield
    sent = sb.requests.list()[calls:]
    if not iconik_calls:
        assert [f"{r.method} {r.path}" for r in sent] == [], "it cost iconik calls"
    assert [f"{r.method} {r.path}" for r in sent if r.method in WRITES and r.status < 400] == []
    assert sb.state.snapshot() == before


def refused(sb: Sandbox, send: Callable[[str | None], requests.Response], status: int,
            field: str | None = None) -> None:
    """Without the secret: 401 at no cost. With it: ``status`` naming ``field``, no change."""
    for secret in (None, "wrong"):
        with changes_nothing(sb, iconik_calls=False):
            assert json_answer(send(secret))["error"] == "missing or wrong shared secret"
    with changes_nothing(sb):
        answer = send(SECRET)
        body = json_answer(answer)
    assert answer.status_code == status, body
    assert body["error"] == body["message"]
    if field:
        assert body["error"].startswith(f"{field}:"), body


# -- size and shape ------------------------------------------------------------------------


def test_body_over_one_mebibyte_gets_413(sb, plugin_server, ids):
    big = json.dumps(action(ids, sb.token, padding="x" * MIB))
    refused(sb, lambda secret: post(url(plugin_server, ids), big, secret), 413, "body")


def test_body_over_one_mebibyte_without_a_length_gets_413(sb, plugin_server, ids):
    # Chunked: no Content-Length to refuse it by, so the reader must stop at 1 MiB + 1.
    def chunks() -> Iterator[bytes]:
        yield json.dumps(action(ids, sb.token))[:-1].encode() + b', "padding": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    refused(sb, lambda secret: post(url(plugin_server, ids), chunks(), secret), 413, "body")


def test_body_of_exactly_one_mebibyte_is_read(sb, plugin_server, ids):
    text = json.dumps(action(ids, sb.token, padding=""))
    text = text[:-2] + "x" * (MIB - len(text)) + '"}'
    assert len(text.encode()) == MIB
    answer = post(url(plugin_server, ids, dry_run="true"), text)
    assert answer.status_code == 200, answer.text
    wait_for_job(sb, answer.json()["job_id"])


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_body_gets_400(sb, plugin_server, ids, opener):
    closer = "]" if opener == "[" else "}"
    deep = opener * 100_000 + "1" * (opener != "[") + closer * 100_000
    refused(sb, lambda secret: post(url(plugin_server, ids), deep, secret), 400, "body")


def test_nesting_that_json_can_read_inside_a_field_gets_400(sb, plugin_server, ids):
    body = json.dumps(action(ids, sb.token))
    nested = body.replace('"asset_ids": [', '"asset_ids": [' + "[" * 900 + "]" * 900 + ", ", 1)
    refused(sb, lambda secret: post(url(plugin_server, ids), nested, secret), 400, "asset_ids")


@pytest.mark.parametrize("key", ["auth_token", "context", "asset_ids"])
def test_duplicate_keys_get_400(sb, plugin_server, ids, key):
    body = action(ids, sb.token)
    other = {"auth_token": "another-token", "context": "COLLECTION",
             "asset_ids": ids.asset_ids[1:2]}[key]
    text = json.dumps(body)[:-1] + f", {json.dumps(key)}: {json.dumps(other)}}}"
    refused(sb, lambda secret: post(url(plugin_server, ids), text, secret), 400, "body")


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"null", b"[]", b'"ASSET"', b"{", b'{"context": "ASSET",}', b"\xff\xfe\x00",
     b'{"context": NaN}', b'{"context": "ASSET"}\x00', "\ufeff{}".encode()],
    ids=["empty", "blank", "null", "list", "string", "cut", "trailing-comma", "binary", "nan",
         "trailing-nul", "bom"],
)
def test_bodies_that_are_not_an_action_get_400(sb, plugin_server, ids, data):
    refused(sb, lambda secret: post(url(plugin_server, ids), data, secret), 400)


# -- content types -------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
def test_json_is_read_whatever_the_content_type(sb, plugin_server, ids, content_type):
    # iconik does not document the type it sends: the body decides, not the label.
    body = json.dumps(action(ids, sb.token))
    answer = post(url(plugin_server, ids, dry_run="true"), body, content_type=content_type)
    assert answer.status_code == 200, answer.text
    assert wait_for_job(sb, answer.json()["job_id"])["status"] == "FINISHED"


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("application/x-www-form-urlencoded", "context=ASSET&auth_token=t&asset_ids=x"),
     ("multipart/form-data; boundary=b",
      '--b\r\nContent-Disposition: form-data; name="context"\r\n\r\nASSET\r\n--b--\r\n'),
     ("application/xml", "<action context='ASSET'/>")],
    ids=["form", "multipart", "xml"],
)
def test_other_formats_get_400(sb, plugin_server, ids, content_type, data):
    refused(sb, lambda secret: post(url(plugin_server, ids), data, secret, content_type), 400,
            "body")


# -- ids and query values with path characters ---------------------------------------------


PATHLIKE = ["../../API/jobs/v1/jobs", "..%2F..%2FAPI", "a?b=c", "a#b", "/", "%2F", "..",
            "a0000000-0000-4000-8000-000000000001/../x",
            "a0000000-0000-4000-8000-000000000001?", "a0000000-0000-4000-8000-000000000001%2F"]


@pytest.mark.parametrize("value", PATHLIKE)
@pytest.mark.parametrize("name", ["asset_ids", "collection_ids", "saved_search_ids"])
def test_ids_with_path_characters_get_400(sb, plugin_server, ids, name, value):
    body = json.dumps(action(ids, sb.token, **{name: [value]}))
    refused(sb, lambda secret: post(url(plugin_server, ids), body, secret), 400, name)


@pytest.mark.parametrize("value", PATHLIKE)
@pytest.mark.parametrize("name", ["b2_storage_id", "ll_storage_id"])
def test_storage_ids_with_path_characters_get_400(sb, plugin_server, ids, name, value):
    body = json.dumps(action(ids, sb.token))
    target = url(plugin_server, ids, **{name: quote(value, safe="")})
    refused(sb, lambda secret: post(target, body, secret), 400, name)


@pytest.mark.parametrize("path", ["/add/../remove", "/x/..%2Fadd", "/%2e%2e/add", "/add%00",
                                  "/add%2F", "/ad%64", "//add", "/add;x=1"])
def test_odd_paths_answer_json(sb, plugin_server, ids, path):
    # Whatever the path decodes to, the answer is JSON; an action is only one ending in
    # /add or /remove, and nothing happens without the secret.
    with changes_nothing(sb, iconik_calls=False):
        connection = http.client.HTTPConnection(urlsplit(plugin_server["url"]).netloc,
                                                timeout=10)
        connection.request("POST", path, body=b"{}", headers={"Content-Type": "text/plain"})
        answer = connection.getresponse()
        status, body = answer.status, answer.read()
        connection.close()
    assert status in (401, 404), body
    assert isinstance(json.loads(body), dict)


# -- unicode, NUL and wrong types ----------------------------------------------------------


CYRILLIC_E, ARABIC_ONE = "\u0415", "\u0661"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"context": "ASSET\x00"}, "context"),
        ({"context": f"ASS{CYRILLIC_E}T"}, "context"),
        ({"asset_ids": ["a0000000-0000-4000-8000-00000000000\x00"]}, "asset_ids"),
        ({"asset_ids": [f"a0000000-0000-4000-8000-00000000000{ARABIC_ONE}"]}, "asset_ids"),
        ({"auth_token": "tok\u00e9n"}, "auth_token"),
        ({"auth_token": "tok\x00en"}, "auth_token"),
        ({"auth_token": "t\r\nX-Evil: 1"}, "auth_token"),
        ({"auth_token": "\u200b"}, "auth_token"),
        ({"context": 1}, "context"),
        ({"context": True}, "context"),
        ({"context": ["ASSET"]}, "context"),
        ({"asset_ids": [1]}, "asset_ids"),
        ({"asset_ids": 1}, "asset_ids"),
        ({"asset_ids": {"0": "x"}}, "asset_ids"),
        ({"collection_ids": [None]}, "collection_ids"),
        ({"saved_search_ids": [1.5]}, "saved_search_ids"),
        ({"auth_token": 12345}, "auth_token"),
        ({"auth_token": ["t"]}, "auth_token"),
        ({"auth_token": {"t": 1}}, "auth_token"),
    ],
    ids=lambda value: json.dumps(value, ensure_ascii=True) if isinstance(value, dict) else value,
)
def test_unicode_nul_and_wrong_types_get_400_naming_the_field(sb, plugin_server, ids, changes,
                                                               field):
    body = json.dumps(action(ids, sb.token, **changes))
    refused(sb, lambda secret: post(url(plugin_server, ids), body, secret), 400, field)


@pytest.mark.parametrize(
    "query", [{"formats": "ORIGINAL\x00"}, {"formats": "ORIGÏNAL"}, {"formats": " , ,"},
              {"dry_run": "2"}, {"dry_run": "trüe"}, {"b2_storage_id": "1"},
              {"ll_storage_id": "\u0661" * 8}],
    ids=["formats-nul", "formats-unicode", "formats-empty", "dry-run-2", "dry-run-unicode",
         "storage-number", "storage-digits"],
)
def test_bad_query_values_get_400(sb, plugin_server, ids, query):
    body = json.dumps(action(ids, sb.token))
    target = url(plugin_server, ids, **{k: quote(v, safe="") for k, v in query.items()})
    refused(sb, lambda secret: post(target, body, secret), 400, next(iter(query)))


def test_unicode_and_nul_in_fields_the_plugin_does_not_use_are_harmless(sb, plugin_server, ids):
    odd = "ünïcödé \x00 \u202e \U0001f600 \ud7ff"
    answer = click(plugin_server, "remove", ids,
                   {"asset_ids": ids.asset_ids[:1], "user_id": odd, "action_id": odd,
                    "system_domain_id": 42, "metadata_values": {odd: [odd]},
                    "date_created": None}, sb.token, query="&dry_run=true")
    assert answer.status_code == 200, answer.text
    job = wait_for_job(sb, answer.json()["job_id"])
    assert job["status"] == "FINISHED", job["message"]


# -- iconik failing while the action is accepted -------------------------------------------


@pytest.mark.parametrize(("status", "answer_status"), [(503, 503), (500, 503), (403, 502)])
def test_iconik_failing_to_create_the_job_is_answered_and_starts_nothing(
        sb, plugin_server, ids, status, answer_status):
    sb.faults.fail_next("POST", r"^/API/jobs/v1/jobs/$", status, count=1)
    with changes_nothing(sb):
        answer = click(plugin_server, "remove", ids, {"asset_ids": ids.asset_ids}, sb.token)
        body = json_answer(answer) if answer.status_code < 500 else answer.json()
    assert answer.status_code == answer_status, body
    assert answer.headers["Content-Type"] == "application/json"
    assert body["error"] == body["message"]
    if answer_status == 503:
        assert int(answer.headers["Retry-After"]) > 0
    assert sb.state.jobs() == []


def test_log_lines_stay_one_json_object_each_whatever_the_url(sb, plugin_server, ids):
    # The plugin logs the request's URL (httpRequest.requestUrl), decoded: a line separator
    # in it must not split the JSON line Cloud Logging reads (it splits on "\n" only).
    body = json.dumps(action(ids, sb.token))
    odd = quote("\u2028\u2029\x85\n\r\x0b\x1c", safe="")
    marker = "log-line-marker-0123"
    assert post(url(plugin_server, ids, dry_run=odd, note=marker), body, None).status_code == 401
    lines = plugin_server["log"].read_text().split("\n")
    logged = [line for line in lines if marker in line]
    assert logged, "the refusal was not logged"
    for line in logged:
        entry = json.loads(line)
        assert entry["severity"] == "WARNING"
        assert marker in entry["httpRequest"]["requestUrl"]
