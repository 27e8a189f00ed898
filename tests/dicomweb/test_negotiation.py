"""Accept parsing: preference order, wildcards, parameters, and the 400/406 answers."""

from __future__ import annotations

import pytest

from imaging_cloud.dicomweb.negotiation import choose_single, parse_accept, require_dicom_json
from imaging_cloud.errors import BadRequest, NotAcceptable


def test_ranges_are_ordered_by_quality_then_as_sent() -> None:
    ranges = parse_accept(
        ['image/png;q=0.5, multipart/related; type="application/dicom"; transfer-syntax=*, image/jpeg', "*/*;q=0.1"]
    )
    assert [r.type for r in ranges] == ["multipart/related", "image/jpeg", "image/png", "*/*"]
    assert ranges[0].part_type == "application/dicom"
    assert ranges[0].transfer_syntax == "*"
    assert ranges[1].transfer_syntax is None


def test_absent_header_accepts_anything_and_q_zero_refuses() -> None:
    assert [r.type for r in parse_accept([])] == ["*/*"]
    assert parse_accept(["image/png;q=0"]) == []
    assert choose_single(parse_accept([]), ("image/jpeg", "image/png"), "x") == "image/jpeg"
    with pytest.raises(NotAcceptable):
        choose_single(parse_accept(["image/png;q=0"]), ("image/png",), "x")


def test_wildcards_admit_their_subtypes() -> None:
    assert choose_single(parse_accept(["image/*"]), ("application/json", "image/png"), "x") == "image/png"
    assert choose_single(parse_accept(["text/html, image/png"]), ("image/jpeg", "image/png"), "x") == "image/png"


def test_dicom_json_accepts_its_aliases_only() -> None:
    for value in ("application/dicom+json", "application/json", "*/*", "application/*"):
        assert require_dicom_json(parse_accept([value])) == "application/dicom+json"
    with pytest.raises(NotAcceptable):
        require_dicom_json(parse_accept(['multipart/related; type="application/dicom+xml"']))


def test_malformed_accept_is_400() -> None:
    for value in ("garbage", "image/png;q=high"):
        with pytest.raises(BadRequest) as error:
            parse_accept([value])
        assert error.value.code == "malformed-accept"
