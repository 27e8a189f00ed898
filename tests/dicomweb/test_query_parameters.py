"""QIDO-RS query parsing: keywords and tags, includefield forms, paging, and strict rejection."""

from __future__ import annotations

import pytest

from imaging_cloud.dicomweb.matching import Level, _end_of_time, _like_pattern
from imaging_cloud.dicomweb.query_parameters import MAXIMUM_RESULTS, parse_search_query
from imaging_cloud.errors import BadRequest


def test_keys_by_keyword_or_tag_resolve_to_the_same_attribute() -> None:
    query = parse_search_query([("StudyDate", "20250101-"), ("00080060", "CT")], Level.SERIES)
    assert [(f.attribute.keyword, f.attribute.vr, f.value) for f in query.filters] == [
        ("StudyDate", "DA", "20250101-"),
        ("Modality", "CS", "CT"),
    ]
    assert query.matched_tags == {"00080020", "00080060"}


def test_includefield_is_repeatable_comma_separated_or_all() -> None:
    query = parse_search_query(
        [("includefield", "StudyDescription,00100040"), ("includefield", "BodyPartExamined")], Level.STUDY
    )
    assert query.include.tags == {"00081030", "00100040", "00180015"}
    assert not query.include.all
    assert parse_search_query([("includefield", "all")], Level.STUDY).include.all


def test_paging_and_fuzzy_flags() -> None:
    query = parse_search_query([("limit", "5"), ("offset", "10"), ("fuzzymatching", "TRUE")], Level.STUDY)
    assert (query.limit, query.offset, query.fuzzy, query.effective_limit) == (5, 10, True, 5)
    assert parse_search_query([("limit", str(MAXIMUM_RESULTS * 10))], Level.STUDY).effective_limit == MAXIMUM_RESULTS
    assert parse_search_query([], Level.STUDY).effective_limit == MAXIMUM_RESULTS


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([("PatientsName", "x")], "unknown-query-key"),
        ([("7FE00010", "x")], "unsupported-matching-key"),
        ([("00091010", "x")], "unknown-query-key"),  # private attributes are not searchable
        ([("limit", "0")], "invalid-limit"),
        ([("offset", "-3")], "invalid-offset"),
        ([("fuzzymatching", "1")], "invalid-fuzzymatching"),
        ([("includefield", "NotAKeyword")], "unknown-include-field"),
        ([("Modality", "CT"), ("00080060", "MR")], "duplicate-query-key"),
        ([("RetrieveURL", "x")], "unsupported-matching-key"),
    ],
)
def test_rejected_queries(items: list[tuple[str, str]], code: str) -> None:
    with pytest.raises(BadRequest) as error:
        parse_search_query(items, Level.INSTANCE)
    assert error.value.code == code


def test_wildcards_become_escaped_like_patterns() -> None:
    assert _like_pattern("a*b?c") == "a%b_c"
    assert _like_pattern("50%_!*") == "50!%!_!!%"


def test_an_open_time_bound_covers_the_whole_named_period() -> None:
    assert _end_of_time("10") == "105959.999999"
    assert _end_of_time("1030") == "103059.999999"
    assert _end_of_time("103015.5") == "103015.599999"
