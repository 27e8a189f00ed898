from __future__ import annotations

import pytest

from deidentify import KnownIdentifiers
from deidentify.national_id import check_character, is_valid_national_id
from deidentify.scrubbing import REPLACEMENT, Scrubber
from tests.deidentify.corpus import WANG, full_width, national_id

KNOWN = KnownIdentifiers(
    names=("王小东", "Wang^XiaoDong", "欧阳娜娜"),
    ids=(WANG.national_id, "00012345", "ZY-7788"),
    phones=("+86 138-1234-5678", "010-62345678"),
    addresses=("北京市朝阳区建国路88号院3号楼",),
)


@pytest.mark.parametrize(
    "text",
    [
        "患者王小东，男",
        "王 小东",
        "王^小东",
        "小东先生",
        "王先生您好",
        "WANG XIAODONG",
        "Xiaodong Wang",
        "wang^xiao^dong",
        "wangxiaodong",
        "欧阳娜娜",
        "娜娜",
        WANG.national_id,
        full_width(WANG.national_id),
        f"{WANG.national_id[:6]} {WANG.national_id[6:14]}-{WANG.national_id[14:]}",
        WANG.national_id[:6] + WANG.national_id[8:17],  # the 15-digit form
        "MRN 12345",
        "zy7788",
        "13812345678",
        "138 1234 5678",
        "+8613812345678",
        "(010)62345678",
        "62345678",
        "住址：建国路88号院3号楼",
    ],
)
def test_known_identifier_in_any_written_form_is_scrubbed(text: str) -> None:
    scrubbed, count = Scrubber(KNOWN).scrub(text)
    assert count >= 1
    assert REPLACEMENT in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        f"身份证 {national_id('310104', '19851122', '203')}",
        "手机 15900001111",
        "tel +86 139-0000-2222",
        "座机 021-65432100",
        "mail zhang.san@hospital.example.cn",
    ],
)
def test_generic_personal_data_patterns_are_scrubbed_without_knowing_the_person(text: str) -> None:
    scrubbed, count = Scrubber(KnownIdentifiers()).scrub(text)
    assert count == 1, scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "CHEST CT 1.25mm ROUTINE",
        "Series 123 2024-01-01 0.5mm",
        "右肺结节 5mm",
        "Wangfujing street",
        "1101011990030742X9",  # 18 characters but not a valid ID
        "20240315101500",
    ],
)
def test_ordinary_clinical_text_is_left_alone(text: str) -> None:
    assert Scrubber(KNOWN).scrub(text) == (text, 0)


def test_invalid_check_digit_is_not_taken_for_a_national_id() -> None:
    valid = national_id("110101", "19900307", "425")
    wrong = valid[:17] + ("0" if valid[17] != "0" else "1")
    assert is_valid_national_id(valid) and not is_valid_national_id(wrong)
    assert Scrubber(KnownIdentifiers()).scrub(f"ID {wrong}") == (f"ID {wrong}", 0)


def test_check_character_follows_iso_7064_mod_11_2() -> None:
    assert check_character("11010519491231002") == "X"  # the standard's published example
    with pytest.raises(ValueError):
        check_character("1234")


def test_names_misdecoded_under_a_wrong_charset_are_scrubbed() -> None:
    mojibake = "王小东".encode("gb18030").decode("latin-1")
    assert Scrubber(KnownIdentifiers(names=("王小东",))).scrub(f"name {mojibake}")[1] == 1


def test_short_identifiers_are_not_scrubbed_inside_longer_numbers() -> None:
    scrubber = Scrubber(KnownIdentifiers(ids=("12345",)))
    assert scrubber.scrub("accession 9123456") == ("accession 9123456", 0)
    assert scrubber.scrub("id 12345.") == (f"id {REPLACEMENT}.", 1)


def test_known_identifiers_merge_and_hide_their_values_in_repr() -> None:
    merged = KnownIdentifiers(names=("王小东",)).merged(KnownIdentifiers(names=("王小东", "李明"), ids=(" 1 ",)))
    assert merged.names == ("王小东", "李明") and merged.ids == ("1",)
    assert "王" not in repr(merged)
