from __future__ import annotations

from collections.abc import Callable

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deidentify import CLINICAL_SHARING, Keys, KnownIdentifiers, Subject, deidentify, verify
from deidentify.uids import collect_uids
from tests.deidentify.corpus import WANG, serialize


def clean(study: Callable[..., list[Dataset]], keys: Keys) -> tuple[Dataset, set[str]]:
    ds = study(WANG)[0]
    originals = collect_uids(ds)
    out = deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=Subject(pseudonym="P1", known=WANG.known()))
    return out.dataset, originals


def test_clean_output_has_no_findings(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds, originals = clean(study, keys)
    assert verify(ds, WANG.known(), original_uids=originals) == []


def test_name_left_in_nested_text_is_found_with_its_tag_path(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds, _ = clean(study, keys)
    inner = Dataset()
    inner.TextValue = f"患者 {WANG.family} {WANG.given}"
    outer = Dataset()
    outer.ContentSequence = Sequence([inner])
    ds.ContentSequence = Sequence([outer])
    findings = verify(ds, WANG.known())
    assert [(f.path, f.kind) for f in findings] == [("(0040,A730)[0].(0040,A730)[0].(0040,A160)", "known-identifier")]
    assert WANG.chinese_name not in repr(findings)


def test_utf16_bytes_in_a_private_blob_are_found(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds, _ = clean(study, keys)
    block = ds.private_block(0x0011, "LEAKY", create=True)
    block.add_new(0x10, "OB", b"\x00" + WANG.chinese_name.encode("utf-16-be") + b"\x00")
    findings = verify(serialize(ds), WANG.known())
    assert any(f.path == "(0011,1010)" and f.encoding == "utf-16-be" for f in findings)


def test_identifier_in_the_preamble_is_found(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds, _ = clean(study, keys)
    data = bytearray(serialize(ds))
    data[0:18] = WANG.national_id.encode("ascii")
    kinds = {(f.path, f.kind) for f in verify(bytes(data), KnownIdentifiers())}
    assert ("<preamble>", "national-id-pattern") in kinds


def test_original_uid_left_in_a_reference_is_found(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds, originals = clean(study, keys)
    leaked = sorted(u for u in originals if not u.startswith("1.2.840.10008"))[0]
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = leaked
    findings = verify(ds, KnownIdentifiers(), original_uids=originals)
    assert ("(0008,1140)[0].(0008,1155)", "original-uid") in {(f.path, f.kind) for f in findings}


def test_generic_patterns_are_found_without_known_identifiers(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds, _ = clean(study, keys)
    ds.ImageComments = "call 13912345678 or mail a.b@example.org"
    kinds = {(f.path, f.kind) for f in verify(ds, KnownIdentifiers())}
    assert {("(0020,4000)", "phone-pattern"), ("(0020,4000)", "email")} <= kinds


def test_bytes_that_do_not_parse_as_dicom_are_still_searched() -> None:
    data = b"\x00" * 128 + b"DICM" + b"xx " + WANG.national_id.encode("ascii")
    assert ("<file>", "national-id-pattern") in {(f.path, f.kind) for f in verify(data, KnownIdentifiers())}


def test_truncated_object_is_still_searched(study: Callable[..., list[Dataset]]) -> None:
    data = serialize(study(WANG)[0])
    findings = verify(data[: len(data) // 2], WANG.known())
    assert any(f.kind == "known-identifier" for f in findings)
