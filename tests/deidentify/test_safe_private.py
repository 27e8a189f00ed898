"""Retain Safe Private keeps exactly the Table E.3.10-1 allowlist (creator, element and VR matching)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian

from deidentify import CLINICAL_SHARING, Keys, Option, Profile, Subject, deidentify
from deidentify.safe_private import load_safe_private, safe_private
from tests.deidentify.corpus import WANG, ct_series

DATA = Path(__file__).resolve().parents[2] / "deidentify" / "data" / "safe_private_tags.json"
KEYS = Keys(uid_key=b"uid-key-for-safe-private-tests")
SAFE = Profile(
    name="safe-private",
    options=frozenset({*CLINICAL_SHARING.options, Option.RETAIN_SAFE_PRIVATE}),
)
WITHOUT = Profile(name="no-safe-private", options=CLINICAL_SHARING.options)


def _with_private(*, implicit: bool = False) -> Dataset:
    """A CT slice with a GE acquisition block (two safe rows, one unsafe), a Philips block and an unknown one."""
    ds = ct_series(WANG, slices=1, charset="ISO_IR 192")[0]
    ge = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    ge.add_new(0x23, "DS", "39.375")  # Table Speed: safe
    ge.add_new(0x9E, "LO", f"FSE {WANG.chinese_name}")  # Internal Pulse Sequence Name: safe, but scrubbed
    ge.add_new(0x30, "LO", WANG.national_id)  # not in the table
    philips = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    philips.add_new(0x03, "FL", 1000.0)  # Diffusion B-Factor: safe
    philips.add_new(0x04, "LO", "I")  # safe row is CS: a different VR is not the listed attribute
    acme = ds.private_block(0x0019, "ACME CHINA 1.0", create=True)
    acme.add_new(0x23, "DS", "12")  # same element byte as GE's safe row, other creator
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()), force=True)


def _private(ds: Dataset) -> dict[str, object]:
    """``creator/element-byte`` → value, for every private element left."""
    out: dict[str, object] = {}
    for tag in list(ds.keys()):
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 1 and element >= 0x1000:
            creator = str(ds[group << 16 | element >> 8].value)
            out[f"{group:04X}/{creator}/{element & 0xFF:02X}"] = ds[tag].value
    return out


def test_allowlist_data_names_its_source_and_every_row_is_a_private_attribute() -> None:
    document = json.loads(DATA.read_text(encoding="utf-8"))
    assert document["table"].startswith("PS3.15 Table E.3.10-1")
    assert document["source"]["commit"] and document["edition"] == "2026d"
    rows = load_safe_private()
    assert len(rows) == len(document["rows"]) > 40
    assert all(entry.group % 2 == 1 and entry.vr for entry in rows.values())
    assert not {entry.vr for entry in rows.values()} & {"OB", "OW", "UN", "SQ", "UI", "LT", ""}
    assert safe_private(0x0019, "GEMS_ACQU_01 ", 0x1023) is not None  # padding ignored, block varies
    assert safe_private(0x0019, "GEMS_ACQU_01", 0x1030) is None


def test_with_the_option_only_allowlisted_private_elements_of_the_right_creator_are_kept() -> None:
    result = deidentify(_with_private(), profile=SAFE, keys=KEYS, subject=Subject(pseudonym="P1"), text_detector=None)
    kept = _private(result.dataset)
    assert set(kept) == {"0019/GEMS_ACQU_01/23", "0019/GEMS_ACQU_01/9E", "2001/Philips Imaging DD 001/03"}
    assert kept["0019/GEMS_ACQU_01/23"] == "39.375"
    assert kept["2001/Philips Imaging DD 001/03"] == 1000.0
    assert kept["0019/GEMS_ACQU_01/9E"] == "FSE ***"  # a kept text value is still scrubbed
    creators = {str(result.dataset[t].value) for t in list(result.dataset.keys()) if t >> 16 & 1 and t & 0xFF00 == 0}
    assert creators == {"GEMS_ACQU_01", "Philips Imaging DD 001"}  # the ACME block went whole
    assert Option.RETAIN_SAFE_PRIVATE.value in result.record.options_applied
    codes = [item.CodeValue for item in result.dataset.DeidentificationMethodCodeSequence]
    assert "113111" in codes


def test_with_the_option_an_implicit_vr_file_keeps_safe_values_read_as_the_listed_vr() -> None:
    result = deidentify(
        _with_private(implicit=True), profile=SAFE, keys=KEYS, subject=Subject(pseudonym="P1"), text_detector=None
    )
    kept = _private(result.dataset)
    assert kept["0019/GEMS_ACQU_01/23"] == "39.375"
    assert "0019/ACME CHINA 1.0/23" not in kept
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, result.dataset, enforce_file_format=True)
    assert WANG.national_id.encode() not in buffer.getvalue()


def test_without_the_option_every_private_element_and_creator_is_removed() -> None:
    result = deidentify(
        _with_private(), profile=WITHOUT, keys=KEYS, subject=Subject(pseudonym="P1"), text_detector=None
    )
    assert not any(tag >> 16 & 1 for tag in list(result.dataset.keys()))
    assert Option.RETAIN_SAFE_PRIVATE.value not in result.record.options_applied
    assert "113111" not in [item.CodeValue for item in result.dataset.DeidentificationMethodCodeSequence]
