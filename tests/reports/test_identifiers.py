"""Report identifiers: the cloud knows names in Chinese characters; reports also spell them in pinyin."""

from __future__ import annotations

from deidentify.pinyin import pinyin_spellings, report_scrubber, with_pinyin
from deidentify.subjects import KnownIdentifiers


def _spellings(name: str) -> set[str]:
    return {spelling.lower() for spelling in pinyin_spellings(name)}


def test_pinyin_spellings_cover_every_reading_of_the_surname() -> None:
    assert {"zeng xiaoming", "ceng xiaoming"} <= _spellings("曾晓明")
    assert {"shan tian", "dan tian"} <= _spellings("单田")


def test_compound_surnames_get_a_two_character_family_name() -> None:
    assert {"ouyang nana", "ou yangnana"} <= _spellings("欧阳娜娜")


def test_names_that_are_not_chinese_have_no_pinyin() -> None:
    assert list(pinyin_spellings("Wang^XiaoDong")) == []
    assert list(pinyin_spellings("王")) == []


def test_with_pinyin_keeps_the_known_identifiers() -> None:
    known = KnownIdentifiers(names=("王小东",), ids=("140105199001011237",))
    expanded = with_pinyin(known)
    assert expanded.ids == known.ids
    assert expanded.names[0] == "王小东" and "wang xiaodong" in {n.lower() for n in expanded.names}


def test_report_scrubber_finds_pinyin_in_any_case_separator_and_order() -> None:
    scrubber = report_scrubber(KnownIdentifiers(names=("王小东",)))
    for written in ("WANG XIAODONG", "Wang^XiaoDong", "wangxiaodong", "Xiaodong Wang", "王 小东", "王小东"):
        scrubbed, count = scrubber.scrub(f"患者 {written} 检查所见: 未见异常")
        assert count >= 1 and written not in scrubbed, written
        assert "检查所见: 未见异常" in scrubbed


def test_report_scrubber_finds_generic_patterns_of_strangers() -> None:
    scrubber = report_scrubber(KnownIdentifiers(names=("王小东",)))
    text = "家属电话 13912345678, 邮箱 someone@example.org, 身份证 11010519491231002X"
    scrubbed, _ = scrubber.scrub(text)
    assert "13912345678" not in scrubbed and "someone@example.org" not in scrubbed
    assert "11010519491231002X" not in scrubbed
