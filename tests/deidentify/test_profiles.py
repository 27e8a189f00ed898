"""Every option column changes exactly the rows the reference says: at rule level and in the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deidentify import (
    CLINICAL_SHARING,
    PROFILES,
    RESEARCH,
    ActionCode,
    Keys,
    Option,
    Profile,
    Rule,
    Subject,
    deidentify,
    get_profile,
)
from deidentify.profiles import resolve_code
from deidentify.table import load_table

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ps3.15-annex-e-table.json"
BASIC = Profile(name="basic")
ENCAPSULATED_DOCUMENT = 0x00420011  # refused outside Encapsulated PDF objects (see test_encapsulated_pdf.py)
BINARY_VRS = ("OB", "OW", "OB or OW", "UN")


def reference_rows() -> list[dict[str, object]]:
    """The shared reference when present (CI), else the package copy proven equal to it."""
    if REFERENCE.is_file():
        return json.loads(REFERENCE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    document = json.loads((Path(__file__).resolve().parents[2] / "deidentify/_standard/annex_e_table.json").read_text())
    return document["rows"]  # type: ignore[no-any-return]


def only(option: Option) -> Profile:
    return Profile(name=f"only-{option.value.replace('_', '-')}", options=frozenset({option}))


def _tag(text: str) -> int:
    return int(text[1:5] + text[6:10], 16)


@pytest.mark.parametrize("option", list(Option))
def test_each_option_column_changes_exactly_its_rows_in_the_rules(option: Option) -> None:
    profile = only(option)
    changed = 0
    for row in reference_rows():
        tag_text = str(row["tag"])
        code = row["options"][option.value]  # type: ignore[index]
        rule: Rule | None
        basic: Rule | None
        if "x" in tag_text or "g" in tag_text:
            rule, basic = profile.pattern_rules[tag_text], BASIC.pattern_rules[tag_text]
        else:
            rule, basic = profile.rule_for(_tag(tag_text)), BASIC.rule_for(_tag(tag_text))
        assert rule is not None and basic is not None
        if code is None:
            assert rule == basic, tag_text
        else:
            changed += 1
            assert rule.table_code == code and rule.action == resolve_code(str(code)), tag_text
            assert rule.reason == f"option:{option.value}"
    expected = {
        Option.RETAIN_SAFE_PRIVATE: 1,
        Option.RETAIN_UIDS: 60,
        Option.RETAIN_DEVICE_IDENTITY: 59,
        Option.RETAIN_INSTITUTION_IDENTITY: 10,
        Option.RETAIN_PATIENT_CHARACTERISTICS: 19,
        Option.RETAIN_LONGITUDINAL_FULL_DATES: 169,
        Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: 169,
        Option.CLEAN_DESCRIPTORS: 141,
        Option.CLEAN_STRUCTURED_CONTENT: 4,
        Option.CLEAN_GRAPHICS: 4,
    }
    assert changed == expected[option]


def _sample(index: int, vr: str) -> object:
    values: dict[str, object] = {
        "DA": "20240102",
        "TM": "101010",
        "DT": "20240102101010",
        "DS": "1.5",
        "IS": "7",
        "AS": "034Y",
        "UI": f"1.2.3.4.5.{index}",
        "UR": f"http://example.org/{index}",
        "US": 7,
        "SS": 7,
        "UL": 7,
        "SL": 7,
        "UV": 7,
        "SV": 7,
        "FL": 1.5,
        "FD": 1.5,
        "AT": 0x00100010,
    }
    if vr in values:
        return values[vr]
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return b"\x01\x02\x03\x04\x05\x06\x07\x08"
    if vr == "PN":
        return f"Sample^Person{index:03d}"
    return f"SAMPLE{index:03d}"


def all_rows_dataset() -> tuple[Dataset, dict[int, object]]:
    """One dataset holding every table attribute pydicom can type, each with a distinct value."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4.1"
    ds.StudyInstanceUID = "1.2.3.4.2"
    ds.SeriesInstanceUID = "1.2.3.4.3"
    inputs: dict[int, object] = {}
    for index, row in enumerate(load_table().rows):
        tag = row.tag_number
        if tag is None or row.keyword is None or tag >> 16 in (0x0000, 0x0002) or tag == ENCAPSULATED_DOCUMENT:
            continue
        if tag in ds:
            continue
        vr = str(dictionary_VR(tag)).split(" or ")[0]
        if vr == "SQ":
            item = Dataset()
            item.CodeValue = f"C{index:03d}"
            item.CodingSchemeDesignator = "99TEST"
            item.CodeMeaning = f"SAMPLE MEANING {index:03d}"
            item.ReferencedSOPInstanceUID = f"1.2.3.9.{index}"
            ds[tag] = DataElement(tag, "SQ", Sequence([item]))
        else:
            value = _sample(index, vr)
            ds[tag] = DataElement(tag, vr, value)
            inputs[tag] = value
    return ds, inputs


def _render(ds: Dataset, tag: int) -> object:
    if tag not in ds:
        return "<absent>"
    elem = ds[tag]
    if elem.VR == "SQ":
        return tuple(tuple((t, _render(item, t)) for t in list(item.keys())) for item in elem.value)
    return repr(elem.value)


def _run(profile: Profile) -> Dataset:
    ds, _ = all_rows_dataset()
    keys = Keys(uid_key=b"uid-key-for-option-tests", date_shift_key=b"date-key-for-option-tests")
    return deidentify(ds, profile=profile, keys=keys, subject=Subject(pseudonym="P1", person_ref="person-1")).dataset


@pytest.mark.parametrize("option", [o for o in Option if o != Option.RETAIN_SAFE_PRIVATE])
def test_each_option_column_changes_exactly_its_rows_in_the_output(option: Option) -> None:
    basic = _run(BASIC)
    with_option = _run(only(option))
    _, inputs = all_rows_dataset()
    table = load_table()
    checked = 0
    for tag, row in table.by_tag.items():
        if tag not in inputs and not (tag in basic or tag in with_option):
            continue
        if tag >> 16 in (0x0000, 0x0002) or tag == ENCAPSULATED_DOCUMENT or row.keyword is None:
            continue
        code = row.options.get(option)
        vr = row.vr or ""
        if code is None:
            # a sequence's items are governed by their own rows: Retain UIDs changes the UIDs inside
            if vr != "SQ" or option != Option.RETAIN_UIDS:
                assert _render(with_option, tag) == _render(basic, tag), row.tag
            continue
        checked += 1
        if code == ActionCode.CLEAN and vr in BINARY_VRS:
            assert tag not in with_option, row.tag  # binary values cannot be cleaned: removed
            continue
        assert _render(with_option, tag) != _render(basic, tag), row.tag
        if code == ActionCode.KEEP and tag in inputs and vr != "PN":
            assert with_option[tag].value == inputs[tag], row.tag
        if code == ActionCode.CLEAN and vr in ("DA", "DT"):
            shifted = str(with_option[tag].value)
            assert shifted != inputs[tag] and shifted[:8].isdigit(), row.tag
    assert checked > 0


def test_modified_dates_shift_every_date_of_a_person_by_the_same_days() -> None:
    ds = _run(only(Option.RETAIN_LONGITUDINAL_MODIFIED_DATES))
    again = _run(only(Option.RETAIN_LONGITUDINAL_MODIFIED_DATES))
    assert ds.StudyDate == again.StudyDate != "20240102"
    assert str(ds.AcquisitionDateTime)[:8] == ds.StudyDate
    assert str(ds.AcquisitionDateTime)[8:] == "101010"  # time of day kept


def test_compound_codes_resolve_to_the_action_valid_for_any_type() -> None:
    assert resolve_code("X/Z") == ActionCode.ZERO
    assert resolve_code("X/D") == resolve_code("X/Z/D") == resolve_code("Z/D") == ActionCode.DUMMY
    assert resolve_code("X/Z/U*") == ActionCode.UID


def test_builtin_profiles_have_the_documented_options() -> None:
    assert CLINICAL_SHARING.options == {
        Option.RETAIN_LONGITUDINAL_FULL_DATES,
        Option.RETAIN_PATIENT_CHARACTERISTICS,
        Option.CLEAN_DESCRIPTORS,
        Option.CLEAN_STRUCTURED_CONTENT,
        Option.CLEAN_GRAPHICS,
    }
    assert Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in RESEARCH.options
    assert Option.RETAIN_PATIENT_CHARACTERISTICS not in RESEARCH.options
    assert get_profile("research") is RESEARCH and set(PROFILES) == {"clinical-sharing", "research"}
    with pytest.raises(KeyError, match="clinical-sharing"):
        get_profile("nope")


def test_profile_rejects_full_and_modified_dates_together() -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        Profile(
            name="both",
            options=frozenset({Option.RETAIN_LONGITUDINAL_FULL_DATES, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES}),
        )


def test_per_tag_override_replaces_the_table_action() -> None:
    profile = Profile(name="keep-institution", overrides={0x00080080: ActionCode.KEEP})
    rule = profile.rule_for(0x00080080)
    assert rule is not None and rule.action == ActionCode.KEEP and rule.reason == "profile-override"
    ds, _ = all_rows_dataset()
    ds.InstitutionName = "Sample Hospital"
    keys = Keys(uid_key=b"uid-key-for-option-tests")
    out = deidentify(ds, profile=profile, keys=keys, subject=Subject(pseudonym="P1")).dataset
    assert out.InstitutionName == "Sample Hospital"
