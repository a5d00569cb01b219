"""The custom-action request (b2_iconik.rules.payload): CustomAction.from_json and ActionOptions.

Every refusal is a PayloadError whose ``field`` names what is wrong, since the web layer turns it
into a 400 naming that field.
"""

from __future__ import annotations

from typing import Any

import pytest

from b2_iconik.base.config import Settings
from b2_iconik.base.errors import PayloadError
from b2_iconik.rules.payload import ActionOptions, CustomAction

APP_ID = "11111111-1111-1111-1111-111111111111"
B2 = "22222222-2222-2222-2222-222222222222"
LL = "33333333-3333-3333-3333-333333333333"
OTHER = "44444444-4444-4444-4444-444444444444"
A1 = "a1a1a1a1-0000-4000-8000-000000000001"
A2 = "a2a2a2a2-0000-4000-8000-000000000002"
C1 = "c1c1c1c1-0000-4000-8000-000000000001"
C2 = "c2c2c2c2-0000-4000-8000-000000000002"
S1 = "5e5e5e5e-0000-4000-8000-000000000001"
TOKEN = "user-token-9f8e7d6c5b4a"


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "context": "ASSET",
        "asset_ids": [A1],
        "auth_token": TOKEN,
        "user_id": "u-1",
        "action_id": "act-1",
        "system_domain_id": "dom-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def refused(payload: Any) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        CustomAction.from_json(payload)
    assert caught.value.status == 400
    return caught.value


# -- CustomAction.from_json ----------------------------------------------------------------------


@pytest.mark.parametrize("context", ["ASSET", "COLLECTION", "BULK", "SAVED_SEARCH"])
def test_contexts_accepted(context: str) -> None:
    action = CustomAction.from_json(body(context=context))
    assert action.context == context


@pytest.mark.parametrize("context", ["asset", "FORMAT", "", None, 3, ..., [], ["ASSET"], {}])
def test_other_contexts_refused(context: Any) -> None:
    error = refused(body(context=context))
    assert error.field == "context"
    assert "context" in str(error)


def test_fields_are_read() -> None:
    action = CustomAction.from_json(
        body(context="BULK", asset_ids=[A1, A2], collection_ids=[C1], saved_search_ids=[S1])
    )
    assert action.asset_ids == (A1, A2)
    assert action.collection_ids == (C1,)
    assert action.saved_search_ids == (S1,)
    assert action.auth_token == TOKEN
    assert (action.user_id, action.action_id, action.system_domain_id) == ("u-1", "act-1", "dom-1")


def test_optional_fields_may_be_missing() -> None:
    action = CustomAction.from_json(
        {"context": "COLLECTION", "collection_ids": [C1], "auth_token": TOKEN}
    )
    assert action.asset_ids == ()
    assert action.saved_search_ids == ()
    assert action.user_id is None and action.action_id is None


@pytest.mark.parametrize("name", ["asset_ids", "collection_ids", "saved_search_ids"])
@pytest.mark.parametrize("bad", ["not-a-uuid", "", 42, None, {"id": A1}])
def test_non_uuid_ids_name_the_list(name: str, bad: Any) -> None:
    error = refused(body(context="BULK", **{"asset_ids": [A1], name: [A2, bad]}))
    assert error.field == name


@pytest.mark.parametrize("name", ["asset_ids", "collection_ids", "saved_search_ids"])
def test_id_list_must_be_a_list(name: str) -> None:
    error = refused(body(context="BULK", **{"asset_ids": [A1], name: A2}))
    assert error.field == name


@pytest.mark.parametrize(
    "ids",
    [
        {"asset_ids": ...},
        {"asset_ids": []},
        {"asset_ids": None},
        {"asset_ids": [], "collection_ids": [], "saved_search_ids": []},
    ],
)
def test_no_ids_at_all(ids: dict[str, Any]) -> None:
    error = refused(body(**ids))
    assert error.field == "asset_ids"


@pytest.mark.parametrize("token", [..., None, "", "   "])
def test_no_auth_token_is_an_empty_token(token: Any) -> None:
    # iconik's Automation engine may send none: the handler decides whether it may act.
    assert CustomAction.from_json(body(auth_token=token)).auth_token == ""


@pytest.mark.parametrize("token", [12345, ["t"], {"token": "t"}, True])
def test_auth_token_must_be_a_string(token: Any) -> None:
    error = refused(body(auth_token=token))
    assert error.field == "auth_token"


def test_auth_token_is_stripped() -> None:
    assert CustomAction.from_json(body(auth_token=f"  {TOKEN}\n")).auth_token == TOKEN


@pytest.mark.parametrize(
    "token",
    [f"{TOKEN}\u00e9", "t\u00f6ken", "\u4e2d\u6587", f"{TOKEN}\ud800", f"{TOKEN}\r\nX-Evil: 1",
     f"{TOKEN}\x00", f"{TOKEN} {TOKEN}", f"\u3000{TOKEN}", f"{TOKEN}\x7f"],
)
def test_auth_token_must_be_printable_ascii(token: str) -> None:
    # It travels as the Auth-Token header: anything else cannot be sent, or splits the header.
    error = refused(body(auth_token=token))
    assert error.field == "auth_token"
    assert TOKEN not in str(error)


@pytest.mark.parametrize("payload", [None, [], "ASSET", 1, [{"context": "ASSET"}]])
def test_body_must_be_an_object(payload: Any) -> None:
    assert refused(payload).field == "body"


def test_duplicates_removed_keeping_order() -> None:
    action = CustomAction.from_json(
        body(
            context="BULK",
            asset_ids=[A2, A1, A2, A2.upper()],
            collection_ids=[C1, C2, C1],
            saved_search_ids=[S1, S1],
        )
    )
    assert action.asset_ids == (A2, A1)
    assert action.collection_ids == (C1, C2)
    assert action.saved_search_ids == (S1,)


def test_ids_are_lowercased() -> None:
    assert CustomAction.from_json(body(asset_ids=[A1.upper()])).asset_ids == (A1,)


def test_auth_token_never_in_repr() -> None:
    action = CustomAction.from_json(body())
    assert TOKEN not in repr(action)
    assert TOKEN not in str(action)
    assert A1 in repr(action)


def test_auth_token_never_in_the_error() -> None:
    error = refused(body(asset_ids=["bad-id"]))
    assert TOKEN not in str(error)


# -- describe --------------------------------------------------------------------------------------


def action(assets: int = 0, collections: int = 0, searches: int = 0) -> CustomAction:
    def ids(prefix: str, n: int) -> tuple[str, ...]:
        return tuple(f"{prefix}{i:07d}-0000-4000-8000-000000000000" for i in range(n))

    return CustomAction(
        context="BULK",
        asset_ids=ids("a", assets),
        collection_ids=ids("c", collections),
        saved_search_ids=ids("e", searches),
        auth_token=TOKEN,
    )


@pytest.mark.parametrize(
    ("counts", "words"),
    [
        ((1, 0, 0), "1 asset"),
        ((2, 0, 0), "2 assets"),
        ((0, 1, 0), "1 collection"),
        ((0, 3, 0), "3 collections"),
        ((0, 0, 1), "1 saved search"),
        ((0, 0, 2), "2 saved searches"),
        ((2, 1, 0), "2 assets and 1 collection"),
        ((1, 0, 2), "1 asset and 2 saved searches"),
        ((0, 2, 1), "2 collections and 1 saved search"),
        ((3, 2, 1), "3 assets, 2 collections and 1 saved search"),
    ],
)
def test_describe(counts: tuple[int, int, int], words: str) -> None:
    assert action(*counts).describe() == words


# -- ActionOptions.from_query ---------------------------------------------------------------------


def settings(**env: str) -> Settings:
    return Settings.from_env(environ={"ICONIK_ID": APP_ID, **env}, dotenv_path=None)


def options_error(query: dict[str, str], s: Settings | None = None) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        ActionOptions.from_query(query, s or settings())
    return caught.value


def test_query_gives_everything() -> None:
    options = ActionOptions.from_query(
        {"b2_storage_id": B2, "ll_storage_id": LL, "formats": "ORIGINAL,PPRO_PROXY"}, settings()
    )
    assert options == ActionOptions(B2, LL, ("ORIGINAL", "PPRO_PROXY"), dry_run=False)


def test_env_defaults_fill_in() -> None:
    s = settings(B2_STORAGE_ID=B2, LL_STORAGE_ID=LL, FORMAT_NAMES="PPRO_PROXY")
    assert ActionOptions.from_query({}, s) == ActionOptions(B2, LL, ("PPRO_PROXY",))


def test_query_beats_env_defaults() -> None:
    s = settings(B2_STORAGE_ID=B2, LL_STORAGE_ID=LL, FORMAT_NAMES="PPRO_PROXY")
    options = ActionOptions.from_query(
        {"b2_storage_id": OTHER, "ll_storage_id": B2, "formats": "ORIGINAL"}, s
    )
    assert (options.b2_storage_id, options.ll_storage_id) == (OTHER, B2)
    assert options.formats == ("ORIGINAL",)


def test_blank_query_value_falls_back_to_env() -> None:
    s = settings(B2_STORAGE_ID=B2, LL_STORAGE_ID=LL)
    options = ActionOptions.from_query({"b2_storage_id": " ", "ll_storage_id": ""}, s)
    assert (options.b2_storage_id, options.ll_storage_id) == (B2, LL)


@pytest.mark.parametrize(
    ("query", "field", "env"),
    [
        ({"ll_storage_id": LL}, "b2_storage_id", "B2_STORAGE_ID"),
        ({"b2_storage_id": B2}, "ll_storage_id", "LL_STORAGE_ID"),
        ({}, "b2_storage_id", "B2_STORAGE_ID"),
    ],
)
def test_missing_storage_names_field_and_variable(
    query: dict[str, str], field: str, env: str
) -> None:
    error = options_error(query)
    assert error.field == field
    assert field in str(error) and env in str(error)


@pytest.mark.parametrize("ll", [B2, B2.upper()])
def test_equal_storages_refused(ll: str) -> None:
    error = options_error({"b2_storage_id": B2, "ll_storage_id": ll})
    assert error.field == "ll_storage_id"


def test_equal_storages_refused_in_any_spelling() -> None:
    error = options_error({"b2_storage_id": B2, "ll_storage_id": B2.replace("-", "")})
    assert error.field == "ll_storage_id"


def test_equal_storages_refused_from_env() -> None:
    error = options_error({}, settings(B2_STORAGE_ID=B2, LL_STORAGE_ID=B2))
    assert error.field == "ll_storage_id"


@pytest.mark.parametrize("field", ["b2_storage_id", "ll_storage_id"])
def test_non_uuid_storage(field: str) -> None:
    query = {"b2_storage_id": B2, "ll_storage_id": LL, field: "lucidlink"}
    error = options_error(query)
    assert error.field == field
    assert "lucidlink" in str(error)


def test_storage_ids_are_lowercased() -> None:
    options = ActionOptions.from_query(
        {"b2_storage_id": B2.upper(), "ll_storage_id": LL.upper()}, settings()
    )
    assert (options.b2_storage_id, options.ll_storage_id) == (B2, LL)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ORIGINAL", ("ORIGINAL",)),
        (" PPRO_PROXY , ORIGINAL ,PPRO_PROXY", ("PPRO_PROXY", "ORIGINAL")),
        ("ORIGINAL,", ("ORIGINAL",)),
    ],
)
def test_formats_parsing(value: str, expected: tuple[str, ...]) -> None:
    query = {"b2_storage_id": B2, "ll_storage_id": LL, "formats": value}
    assert ActionOptions.from_query(query, settings()).formats == expected


@pytest.mark.parametrize("value", ["", " , ", "ORIGINAL,BAD NAME", "../etc"])
def test_formats_invalid(value: str) -> None:
    error = options_error({"b2_storage_id": B2, "ll_storage_id": LL, "formats": value})
    assert error.field == "formats"
    assert str(error).startswith("formats: ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        (" Yes ", True),
        ("false", False),
        ("0", False),
        ("no", False),
        ("", False),
    ],
)
def test_dry_run(value: str, expected: bool) -> None:
    query = {"b2_storage_id": B2, "ll_storage_id": LL, "dry_run": value}
    assert ActionOptions.from_query(query, settings()).dry_run is expected


def test_dry_run_defaults_to_false() -> None:
    query = {"b2_storage_id": B2, "ll_storage_id": LL}
    assert ActionOptions.from_query(query, settings()).dry_run is False


@pytest.mark.parametrize("value", ["maybe", "2", "on!", "truee"])
def test_dry_run_invalid(value: str) -> None:
    error = options_error({"b2_storage_id": B2, "ll_storage_id": LL, "dry_run": value})
    assert error.field == "dry_run"


@pytest.mark.parametrize("spelling", [A1.upper(), A1.replace("-", ""), "{" + A1 + "}"])
def test_ids_in_any_spelling_become_canonical_and_deduplicated(spelling: str) -> None:
    action = CustomAction.from_json(body(asset_ids=[spelling, A1, A2]))
    assert action.asset_ids == (A1, A2)


@pytest.mark.parametrize(
    "spelling",
    [A1[:-1] + "\u0661", A1[:-1] + "\uff11", A1.replace("-", "")[1:] + " ",
     " " + A1.replace("-", "")[1:], A1.replace("-", "")[:8] + "_" + A1.replace("-", "")[9:],
     "+" + A1.replace("-", "")[1:], "urn:uuid:" + A1 + "x"],
    ids=["arabic-digit", "fullwidth-digit", "trailing-space", "leading-space", "underscore",
         "plus", "urn-extra"],
)
def test_ids_that_only_python_reads_as_uuids_are_refused(spelling: str) -> None:
    # uuid.UUID runs int(..., 16), which takes any Unicode digit, spaces and underscores:
    # "a00…1 " would have been read as another asset, 0a00….
    assert refused(body(asset_ids=[spelling])).field == "asset_ids"
    query = {"b2_storage_id": spelling, "ll_storage_id": LL}
    assert options_error(query).field == "b2_storage_id"


def test_storage_ids_become_canonical() -> None:
    options = ActionOptions.from_query(
        {"b2_storage_id": B2.replace("-", ""), "ll_storage_id": LL.upper()}, settings()
    )
    assert (options.b2_storage_id, options.ll_storage_id) == (B2, LL)


@pytest.mark.parametrize(
    "changes",
    [{"context": "A" * 900_000}, {"asset_ids": ["b" * 900_000]},
     {"asset_ids": [list(range(100_000))]}, {"collection_ids": [{"k" * 1000: "v" * 100_000}]}],
    ids=["context", "id", "list-as-id", "object-as-id"],
)
def test_errors_show_a_short_excerpt_of_a_huge_value(changes: dict[str, Any]) -> None:
    # The text is logged and answered: a body-sized echo is a log line Cloud Logging drops.
    error = refused(body(**changes))
    assert len(str(error)) < 300
    assert error.field == next(iter(changes))
