"""Text whose bytes do not match the declared SpecificCharacterSet: decoded as what it is, scrubbed, written UTF-8."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from deidentify import CLINICAL_SHARING, Keys, KnownIdentifiers, Subject, deidentify, make_pseudonym, verify
from deidentify.charsets import CHARSET_VRS, best_decoding
from tests.deidentify.corpus import OUYANG, WANG, Person, ct_series, serialize

KEYS = Keys(uid_key=b"uid-key-for-charset-tests-0123")
#: every encoding a leak could take, and the mojibake a wrong decoding would have written out as UTF-8
LEAK_CODECS = ("gbk", "gb18030", "utf-8", "utf-16-le", "utf-16-be")


def _encode_text(ds: Dataset, codec: str) -> None:
    """Replace every non-ASCII text value, at every depth, by its bytes in ``codec`` (written as they are)."""
    for tag in list(ds.keys()):
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value:
                if "SpecificCharacterSet" in item:
                    del item.SpecificCharacterSet
                _encode_text(item, codec)
        elif elem.VR in CHARSET_VRS and elem.value is not None:
            values = list(elem.value) if elem.VM > 1 else [elem.value]
            text = "\\".join(str(v) for v in values)
            if not text.isascii():
                ds[tag] = DataElement(tag, elem.VR, text.encode(codec))


def mislabeled(person: Person, *, really: str, declared: str | None) -> Dataset:
    """A CT slice whose text is in ``really`` bytes while it declares ``declared`` (None: no character set)."""
    ds = ct_series(person, slices=1, charset="ISO_IR 192")[0]
    _encode_text(ds, really)
    if declared is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = declared
    data = serialize(ds)
    assert person.chinese_name.encode(really) in data  # precondition: the name is there, in mislabeled bytes
    return pydicom.dcmread(io.BytesIO(data))


def forms_found(data: bytes, person: Person) -> list[tuple[str, str]]:
    """Independent byte search: the person's Chinese forms in every encoding, and their mojibake as UTF-8."""
    found = []
    chinese = [person.chinese_name, person.given, person.address]
    for form in chinese:
        for codec in LEAK_CODECS:
            if form.encode(codec) in data:
                found.append((form, codec))
        for wrong in ("gbk", "utf-8"):
            mojibake = form.encode(wrong).decode("latin-1")
            if mojibake.encode("utf-8") in data:
                found.append((form, f"{wrong}-as-latin-1"))
    for form in (person.national_id, person.mobile, person.mrn):
        if form.encode() in data:
            found.append((form, "ascii"))
    return found


@pytest.mark.parametrize(
    ("text", "really", "declared"),
    [
        ("王小东", "gbk", "latin-1"),
        ("欧阳娜娜", "gb18030", "latin-1"),
        ("王^小东", "gbk", "latin-1"),
        ("胸部CT平扫 王小东", "utf-8", "gb18030"),
        ("王小东", "utf-8", "latin-1"),
        ("王小东", "gbk", "utf-8"),
    ],
)
def test_mislabeled_bytes_are_decoded_as_what_they_are(text: str, really: str, declared: str) -> None:
    assert best_decoding(text.encode(really), declared).text == text


@pytest.mark.parametrize("text", ["Müller", "Zürich Gérard", "Ærø", "ção", "résumé 36°"])
def test_real_latin_1_text_stays_latin_1(text: str) -> None:
    assert best_decoding(text.encode("latin-1"), "latin-1").text == text


@pytest.mark.parametrize(
    ("really", "declared"),
    [
        ("gbk", "ISO_IR 100"),
        ("gb18030", None),
        ("gbk", None),
        ("utf-8", "GB18030"),
        ("utf-8", "ISO_IR 100"),
        ("gbk", "ISO_IR 192"),
    ],
)
@pytest.mark.parametrize("person", [WANG, OUYANG], ids=["wang", "ouyang"])
def test_mislabeled_object_comes_out_scrubbed_and_labelled_utf8(
    really: str, declared: str | None, person: Person
) -> None:
    ds = mislabeled(person, really=really, declared=declared)
    subject = Subject(pseudonym=make_pseudonym(person.national_id, b"pseudonym-key-0123456789"), known=person.known())
    result = deidentify(ds, profile=CLINICAL_SHARING, keys=KEYS, subject=subject, text_detector=None)
    out = serialize(result.dataset)
    assert forms_found(out, person) == []
    assert verify(out, person.known()) == []
    parsed = pydicom.dcmread(io.BytesIO(out))
    assert parsed.SpecificCharacterSet == "ISO_IR 192"
    assert str(parsed.StudyDescription) == "胸部CT平扫 ***"  # the rest of the text is readable, not mojibake
    repaired = [a for a in result.record.actions if a.reason.startswith("mislabeled-charset")]
    assert any(a.path == "(0008,1030)" for a in repaired)


def test_names_harvested_from_mislabeled_header_are_scrubbed_when_the_caller_knows_nothing() -> None:
    ds = mislabeled(WANG, really="gbk", declared="ISO_IR 100")
    result = deidentify(ds, profile=CLINICAL_SHARING, keys=KEYS, subject=Subject(pseudonym="P1"), text_detector=None)
    out = serialize(result.dataset)
    assert WANG.chinese_name.encode("utf-8") not in out and WANG.given.encode("utf-8") not in out
    assert verify(out, WANG.known()) == []


@pytest.mark.parametrize(("codec", "declared"), [("gbk", "ISO_IR 100"), ("gbk", "ISO_IR 192"), ("utf-8", "GB18030")])
def test_verify_finds_a_given_name_hidden_in_mislabeled_bytes(codec: str, declared: str) -> None:
    """The given name alone (not a literal byte form) in bytes of another character set than declared."""
    subject = Subject(pseudonym="P1", known=WANG.known())
    ds = deidentify(
        ct_series(WANG, slices=1, charset="ISO_IR 192")[0],
        profile=CLINICAL_SHARING,
        keys=KEYS,
        subject=subject,
        text_detector=None,
    ).dataset
    assert verify(serialize(ds), WANG.known()) == []
    ds.SpecificCharacterSet = declared
    ds.ImageComments = b"follow-up " + f"随访{WANG.given}".encode(codec)
    findings = verify(serialize(ds), WANG.known())
    assert any(f.path == "(0020,4000)" and f.encoding in ("gb18030", "utf-8") for f in findings)


def test_verify_finds_a_name_in_gbk_bytes_of_a_private_blob() -> None:
    ds = deidentify(
        ct_series(WANG, slices=1, charset="ISO_IR 192")[0],
        profile=CLINICAL_SHARING,
        keys=KEYS,
        subject=Subject(pseudonym="P1", known=WANG.known()),
        text_detector=None,
    ).dataset
    block = ds.private_block(0x0029, "ACME BLOB", create=True)
    block.add_new(0x01, "OB", b"\x01\x02" + f"患者{WANG.given}".encode("gbk") + b"\x00\x00")
    findings = verify(serialize(ds), KnownIdentifiers(names=(WANG.chinese_name,)))
    assert any(f.path.startswith("(0029,") and f.encoding == "gb18030" for f in findings)
