"""The remove safety rule, branch by branch: a LucidLink file set verifies only when B2 holds an
ACTIVE file set of the same format whose files are all CLOSED and match one for one."""

from __future__ import annotations

from typing import Any

import pytest

from b2_iconik.rules.verification import Verdict, check_asset

B2, LL, OTHER = "b2000000-0000-0000-0000-000000000000", "11000000-0000-0000-0000-000000000000", (
    "99000000-0000-0000-0000-000000000000"
)
ASSET = "a0000000-0000-0000-0000-000000000000"
FORMATS = [
    {"id": "f-orig", "name": "ORIGINAL", "status": "ACTIVE"},
    {"id": "f-proxy", "name": "PPRO_PROXY", "status": "ACTIVE"},
]


def file_set(fs_id: str, storage: str, fmt: str = "f-orig", status: str = "ACTIVE", **extra: Any):
    return {"id": fs_id, "storage_id": storage, "format_id": fmt, "status": status, **extra}


def file(fs_id: str, size: int = 100, checksum: str | None = "abc", status: str = "CLOSED",
         name: str = "clip.mov"):
    return {"id": f"{fs_id}-{name}", "file_set_id": fs_id, "size": size, "checksum": checksum,
            "status": status, "name": name}


def verdicts(file_sets, files, formats=("ORIGINAL",), fmts=FORMATS):
    check = check_asset(ASSET, formats, B2, LL, fmts, file_sets, files)
    return [c.verdict for c in check.checks], check


def test_matching_closed_b2_copy_verifies():
    result, check = verdicts([file_set("ll", LL), file_set("b2", B2)], [file("ll"), file("b2")])
    assert result == [Verdict.VERIFIED]
    assert check.checks[0].file_set_id == "ll"


def test_nothing_on_lucidlink_gives_no_checks():
    result, _ = verdicts([file_set("b2", B2)], [file("b2")])
    assert result == []


def test_missing_b2_copy_needs_a_copy():
    result, check = verdicts([file_set("ll", LL)], [file("ll")])
    assert result == [Verdict.COPY_NEEDED]
    assert check.formats_needing_copy() == ["ORIGINAL"]
    assert "no copy on B2" in check.checks[0].reason


@pytest.mark.parametrize("status", ["DELETED", "ARCHIVED", None])
def test_b2_file_set_that_is_not_active_does_not_count(status):
    b2 = file_set("b2", B2, status=status) if status else {"id": "b2", "storage_id": B2,
                                                            "format_id": "f-orig"}
    result, _ = verdicts([file_set("ll", LL), b2], [file("ll"), file("b2")])
    assert result == [Verdict.COPY_NEEDED]


def test_copy_on_a_third_storage_does_not_count():
    result, _ = verdicts([file_set("ll", LL), file_set("x", OTHER)], [file("ll"), file("x")])
    assert result == [Verdict.COPY_NEEDED]


def test_b2_copy_of_another_format_does_not_count():
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2, fmt="f-proxy")],
                         [file("ll"), file("b2")])
    assert result == [Verdict.COPY_NEEDED]


@pytest.mark.parametrize("status", ["OPEN", "GROWING", "AWAITED", "REDISCOVERED"])
def test_b2_file_still_being_written_is_pending(status):
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)],
                         [file("ll"), file("b2", status=status)])
    assert result == [Verdict.PENDING]


@pytest.mark.parametrize("status", ["FAILED", "MISSING", "DELETED", "ARCHIVED", None])
def test_b2_file_failed_or_missing_needs_a_new_copy(status):
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)],
                         [file("ll"), file("b2", status=status)])
    assert result == [Verdict.COPY_NEEDED]


def test_size_difference_is_a_mismatch():
    result, check = verdicts([file_set("ll", LL), file_set("b2", B2)],
                             [file("ll", size=100), file("b2", size=99)])
    assert result == [Verdict.MISMATCH]
    assert "99 bytes" in check.checks[0].reason


def test_checksum_difference_is_a_mismatch():
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)],
                         [file("ll", checksum="aaa"), file("b2", checksum="bbb")])
    assert result == [Verdict.MISMATCH]


@pytest.mark.parametrize(("ll_sum", "b2_sum"), [(None, "abc"), ("abc", None), (None, None)])
def test_checksums_compared_only_where_both_sides_have_one(ll_sum, b2_sum):
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)],
                         [file("ll", checksum=ll_sum), file("b2", checksum=b2_sum)])
    assert result == [Verdict.VERIFIED]


def test_checksum_case_does_not_matter():
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)],
                         [file("ll", checksum="ABC"), file("b2", checksum="abc")])
    assert result == [Verdict.VERIFIED]


def test_different_file_count_is_a_mismatch():
    files = [file("ll", name="a"), file("ll", name="b"), file("b2", name="a")]
    result, check = verdicts([file_set("ll", LL), file_set("b2", B2)], files)
    assert result == [Verdict.MISMATCH]
    assert "1 files, LucidLink has 2" in check.checks[0].reason


def test_multi_file_sets_match_one_for_one():
    files = [file("ll", 10, "x", name="a"), file("ll", 20, "y", name="b"),
             file("b2", 20, "y", name="b"), file("b2", 10, "x", name="a")]
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)], files)
    assert result == [Verdict.VERIFIED]


def test_one_b2_file_cannot_stand_for_two_lucidlink_files():
    files = [file("ll", 10, None, name="a"), file("ll", 20, None, name="b"),
             file("b2", 10, None, name="a"), file("b2", 10, None, name="c")]
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)], files)
    assert result == [Verdict.MISMATCH]


def test_empty_b2_file_set_never_verifies():
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)], [file("ll")])
    assert result == [Verdict.COPY_NEEDED]


def test_empty_sets_on_both_sides_do_not_verify():
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)], [])
    assert Verdict.VERIFIED not in result


def test_b2_listing_shorter_than_its_file_count_is_pending():
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2, file_count=2)],
                         [file("ll"), file("b2")])
    assert result == [Verdict.PENDING]


def test_lucidlink_listing_shorter_than_its_file_count_is_pending():
    result, _ = verdicts([file_set("ll", LL, file_count=2), file_set("b2", B2)],
                         [file("ll"), file("b2")])
    assert result == [Verdict.PENDING]


def test_file_without_a_size_does_not_verify():
    lonely = file("ll")
    del lonely["size"]
    b2 = file("b2")
    del b2["size"]
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)], [lonely, b2])
    assert Verdict.VERIFIED not in result


def test_any_matching_b2_set_of_the_format_is_enough():
    sets = [file_set("ll", LL), file_set("bad", B2), file_set("good", B2)]
    files = [file("ll"), file("bad", size=5), file("good")]
    result, _ = verdicts(sets, files)
    assert result == [Verdict.VERIFIED]


def test_each_lucidlink_set_is_judged_on_its_own():
    sets = [file_set("ll1", LL), file_set("ll2", LL, fmt="f-proxy"), file_set("b2", B2)]
    files = [file("ll1"), file("ll2"), file("b2")]
    _, check = verdicts(sets, files, formats=("ORIGINAL", "PPRO_PROXY"))
    assert sorted((c.file_set_id, c.verdict) for c in check.checks) == [
        ("ll1", Verdict.VERIFIED), ("ll2", Verdict.COPY_NEEDED)]


def test_formats_not_requested_are_left_alone():
    sets = [file_set("ll", LL, fmt="f-proxy")]
    result, _ = verdicts(sets, [file("ll")], formats=("ORIGINAL",))
    assert result == []


def test_deleted_lucidlink_set_is_not_considered():
    result, _ = verdicts([file_set("ll", LL, status="DELETED")], [file("ll")])
    assert result == []


def test_pending_beats_copy_needed_and_mismatch_for_the_reason():
    sets = [file_set("ll", LL), file_set("b2a", B2), file_set("b2b", B2)]
    files = [file("ll"), file("b2a", size=1), file("b2b", status="OPEN")]
    result, _ = verdicts(sets, files)
    assert result == [Verdict.PENDING]


def test_storage_ids_compared_without_case():
    sets = [file_set("ll", LL.upper()), file_set("b2", B2.upper())]
    result, _ = verdicts(sets, [file("ll"), file("b2")])
    assert result == [Verdict.VERIFIED]


def test_deleted_files_are_not_content_on_either_side():
    files = [file("ll"), file("ll", size=7, status="DELETED", name="old"),
             file("b2"), file("b2", size=9, status="DELETED", name="older")]
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)], files)
    assert result == [Verdict.VERIFIED]


def test_a_deleted_b2_file_cannot_stand_for_a_live_lucidlink_file():
    files = [file("ll", name="a"), file("ll", 50, name="b"),
             file("b2", name="a"), file("b2", 50, status="DELETED", name="b")]
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)], files)
    assert Verdict.VERIFIED not in result


@pytest.mark.parametrize("count", [1, 2])
def test_file_count_with_or_without_deleted_files_is_complete(count):
    files = [file("ll"), file("b2"), file("b2", status="DELETED", name="old")]
    result, _ = verdicts([file_set("ll", LL, file_count=1), file_set("b2", B2, file_count=count)],
                         files)
    assert result == [Verdict.VERIFIED]


# -- a LucidLink copy someone else is deleting, and one still being written ----------------------


def test_lucidlink_set_whose_files_are_all_deleted_is_gone_not_a_mismatch():
    result, check = verdicts([file_set("ll", LL), file_set("b2", B2)],
                             [file("ll", status="DELETED"), file("b2")])
    assert result == [Verdict.GONE]
    assert check.with_verdict(Verdict.VERIFIED) == []  # never deleted on this reading


def test_lucidlink_set_with_no_files_listed_is_gone():
    result, _ = verdicts([file_set("ll", LL, file_count=1), file_set("b2", B2)], [file("b2")])
    assert result == [Verdict.GONE]


def test_gone_is_confirmed_only_when_a_fresh_listing_lacks_the_set():
    _, check = verdicts([file_set("ll", LL), file_set("b2", B2)],
                        [file("ll", status="DELETED"), file("b2")])
    assert [c.verdict for c in check.confirm_gone(set()).checks] == [Verdict.GONE]
    still = check.confirm_gone({"ll"})
    assert [c.verdict for c in still.checks] == [Verdict.PENDING]
    assert "changed while being read" in still.checks[0].reason


@pytest.mark.parametrize("status", ["OPEN", "GROWING", "AWAITED"])
def test_lucidlink_copy_still_being_written_waits(status):
    result, _ = verdicts([file_set("ll", LL), file_set("b2", B2)],
                         [file("ll", status=status), file("b2")])
    assert result == [Verdict.PENDING]


def test_a_mismatch_read_while_the_lucidlink_set_was_being_deleted_is_gone_not_reported():
    """Found by the property-based tests: a LucidLink set deleted (to the recycle bin) while its
    files were listed page by page reads as some files CLOSED and the rest DELETED; the live
    ones no longer match B2, which is not a difference to report but a set to confirm gone."""
    files = [file("ll", name="a"), file("ll", 50, status="DELETED", name="b"),
             file("b2", name="a"), file("b2", 50, name="b")]
    result, check = verdicts([file_set("ll", LL), file_set("b2", B2)], files)
    assert result == [Verdict.GONE]
    assert check.confirm_gone({"ll"}).checks[0].verdict is Verdict.PENDING  # still listed: wait
