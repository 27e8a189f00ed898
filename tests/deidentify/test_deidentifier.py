"""De-identifying the synthetic corpus: no residue, no utility damage, typed refusals."""

from __future__ import annotations

import datetime as dt
import io
import warnings
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deidentify import (
    CLINICAL_SHARING,
    RESEARCH,
    Keys,
    KnownIdentifiers,
    MalformedInput,
    Profile,
    RejectedInstance,
    Subject,
    deidentify,
    make_pseudonym,
    remap_uid,
    verify,
)
from deidentify.uids import collect_uids
from tests.deidentify.corpus import OUYANG, WANG, Person, ct_series, full_width, serialize

ENCODINGS = ("utf-8", "gb18030", "utf-16-le", "utf-16-be")


def residue(data: bytes, person: Person) -> list[tuple[str, str]]:
    """Independent of the library: every canonical form of the person's identifiers, in every encoding."""
    lowered = data.lower()
    leaks = []
    for form in person.byte_forms():
        for encoding in ENCODINGS:
            if form.lower().encode(encoding) in lowered:
                leaks.append((form, encoding))
    return leaks


def subject_for(person: Person, *, known: bool = True) -> Subject:
    return Subject(
        pseudonym=make_pseudonym(person.national_id, b"pseudonym-key-0123456789"),
        known=person.known() if known else KnownIdentifiers(),
        person_ref=person.national_id,
    )


@pytest.mark.parametrize("charset", ["GB18030", "ISO_IR 192", "GBK"])
@pytest.mark.parametrize("profile", [CLINICAL_SHARING, RESEARCH], ids=lambda p: p.name)
def test_corpus_leaves_no_residue(study: Callable[..., list[Dataset]], keys: Keys, charset: str, profile) -> None:  # type: ignore[no-untyped-def]
    for person in (WANG, OUYANG):
        for ds in study(person, charset=charset):
            originals = collect_uids(ds)
            result = deidentify(ds, profile=profile, keys=keys, subject=subject_for(person))
            data = serialize(result.dataset)
            assert verify(data, person.known(), original_uids=originals) == []
            assert residue(data, person) == []
            assert not any(uid.encode() in data for uid in originals if not uid.startswith("1.2.840.10008"))


def test_header_identifiers_are_harvested_when_the_caller_knows_nothing(
    study: Callable[..., list[Dataset]], keys: Keys
) -> None:
    for ds in study(WANG):
        result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=subject_for(WANG, known=False))
        data = serialize(result.dataset)
        assert residue(data, WANG) == []
        assert result.record.harvested > 0
        assert WANG.chinese_name in result.known.names or WANG.pn.split("=")[1] in result.known.names


def test_uids_stay_consistent_across_a_series_and_its_references(
    study: Callable[..., list[Dataset]], keys: Keys
) -> None:
    objects = study(WANG)
    originals = [(str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)) for ds in objects]
    outputs = [deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=subject_for(WANG)).dataset for ds in objects]
    ct = outputs[:-1]
    sr = outputs[-1]
    assert len({str(ds.SeriesInstanceUID) for ds in ct}) == 1
    assert len({str(ds.StudyInstanceUID) for ds in outputs}) == 1
    assert len({str(ds.FrameOfReferenceUID) for ds in ct}) == 1
    sop_uids = {str(ds.SOPInstanceUID) for ds in ct}
    for (sop, study_uid, _series), ds in zip(originals, outputs, strict=True):
        assert str(ds.SOPInstanceUID) == remap_uid(sop, keys.uid_key)
        assert str(ds.StudyInstanceUID) == remap_uid(study_uid, keys.uid_key)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert len(str(ds.SOPInstanceUID)) <= 64 and str(ds.SOPInstanceUID).startswith("2.25.")
    for ds in ct:
        referenced = {str(item.ReferencedSOPInstanceUID) for item in ds.ReferencedImageSequence}
        assert referenced and referenced <= sop_uids
        assert str(ds.SourceImageSequence[0].ReferencedSOPInstanceUID) in sop_uids
        assert ds.SourceImageSequence[0].ReferencedSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    image_ref = sr.ContentSequence[1].ContentSequence[1].ContentSequence[0].ReferencedSOPSequence[0]
    assert str(image_ref.ReferencedSOPInstanceUID) == str(ct[0].SOPInstanceUID)


def test_geometry_pixels_and_sop_class_are_kept(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds = study(WANG)[1]
    before = {
        "class": str(ds.SOPClassUID),
        "position": list(ds.ImagePositionPatient),
        "orientation": list(ds.ImageOrientationPatient),
        "spacing": list(ds.PixelSpacing),
        "thickness": ds.SliceThickness,
        "pixels": ds.PixelData,
        "size": (ds.Rows, ds.Columns, ds.BitsAllocated),
        "sex_age": (ds.PatientSex, ds.PatientAge),
        "date": ds.StudyDate,
    }
    out = deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=subject_for(WANG)).dataset
    reread = pydicom.dcmread(io.BytesIO(serialize(out)))
    assert str(reread.SOPClassUID) == before["class"]
    assert list(reread.ImagePositionPatient) == before["position"]
    assert list(reread.ImageOrientationPatient) == before["orientation"]
    assert list(reread.PixelSpacing) == before["spacing"]
    assert reread.SliceThickness == before["thickness"]
    assert reread.PixelData == before["pixels"]
    assert (reread.Rows, reread.Columns, reread.BitsAllocated) == before["size"]
    assert (reread.PatientSex, reread.PatientAge) == before["sex_age"]  # Retain Patient Characteristics
    assert reread.StudyDate == before["date"]  # Retain Longitudinal Full Dates
    assert reread.StudyDescription.startswith("胸部CT平扫")  # Clean Descriptors keeps the description


def test_markers_file_meta_preamble_and_charset_are_set(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds = study(WANG)[0]
    subject = subject_for(WANG)
    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=subject)
    data = serialize(result.dataset)
    out = pydicom.dcmread(io.BytesIO(data))
    assert data[:128] == bytes(128)
    assert out.PatientID == subject.pseudonym
    assert not out.PatientName
    assert out.PatientIdentityRemoved == "YES"
    assert "clinical-sharing" in out.DeidentificationMethod
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113108", "113106", "113105", "113104", "113103"]
    assert all(item.CodingSchemeDesignator == "DCM" for item in out.DeidentificationMethodCodeSequence)
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert out.SpecificCharacterSet == "ISO_IR 192"  # Chinese descriptions remain
    assert "SourceApplicationEntityTitle" not in out.file_meta
    assert not any(tag >> 16 == 0x0009 for tag in list(out.keys()))  # private tags
    assert not any(tag >> 16 == 0x6000 for tag in list(out.keys()))  # overlay group
    assert "IconImageSequence" not in out
    assert "OtherPatientIDsSequence" not in out
    record = result.record
    assert record.counts["X"] > 0 and record.scrubbed > 0
    assert all(WANG.chinese_name not in str(action) for action in record.actions)
    assert record.as_dict()["profile"] == "clinical-sharing"


def test_research_profile_shifts_dates_per_person_and_keeps_intervals(keys: Keys) -> None:
    first = ct_series(WANG, slices=1, study=1)[0]
    second = ct_series(WANG, slices=1, study=2)[0]
    second.StudyDate = "20240415"
    outputs = [deidentify(ds, profile=RESEARCH, keys=keys, subject=subject_for(WANG)).dataset for ds in (first, second)]
    dates = [dt.datetime.strptime(str(ds.StudyDate), "%Y%m%d").date() for ds in outputs]
    assert dates[0] != dt.date(2024, 3, 15)
    assert (dates[1] - dates[0]).days == 31
    assert outputs[0].LongitudinalTemporalInformationModified == "MODIFIED"
    assert "PatientSex" not in outputs[0] or not outputs[0].PatientSex  # no patient characteristics option


def test_research_profile_requires_a_date_shift_key() -> None:
    ds = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    with pytest.raises(ValueError, match="date_shift_key"):
        deidentify(ds, profile=RESEARCH, keys=Keys(uid_key=b"k" * 16), subject=Subject(pseudonym="P", person_ref="r"))


def test_burned_in_annotation_is_refused_without_clean_pixel_data(
    study: Callable[..., list[Dataset]], keys: Keys
) -> None:
    without_pixels = Profile(name="no-pixel-cleaning", options=CLINICAL_SHARING.options)
    ds = study(WANG)[0]
    ds.BurnedInAnnotation = "YES"
    with pytest.raises(RejectedInstance) as caught:
        deidentify(ds, profile=without_pixels, keys=keys, subject=subject_for(WANG))
    assert caught.value.code == "burned-in-annotation"
    assert WANG.chinese_name not in str(caught.value)


def test_overlay_embedded_in_pixel_data_is_refused(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds = study(WANG)[0]
    del ds[0x60003000]
    with pytest.raises(RejectedInstance) as caught:
        deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=subject_for(WANG))
    assert caught.value.code == "embedded-overlay"


@pytest.mark.parametrize("keyword", ["SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
def test_missing_identifying_uid_is_malformed_input(
    study: Callable[..., list[Dataset]], keys: Keys, keyword: str
) -> None:
    ds = study(WANG)[0]
    delattr(ds, keyword)
    with pytest.raises(MalformedInput) as caught:
        deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=subject_for(WANG))
    assert caught.value.code == "missing-attribute"


def test_unknown_sop_class_is_refused(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds = study(WANG)[0]
    ds.SOPClassUID = "1.3.12.2.1107.5.9.1"  # a vendor's private SOP class
    with pytest.raises(RejectedInstance) as caught:
        deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=subject_for(WANG))
    assert caught.value.code == "unsupported-sop-class"


def test_undecodable_value_is_malformed_input(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    ds = study(WANG)[0]
    data = bytearray(serialize(ds))
    marker = b"Chest 1.25mm"
    at = data.index(marker)
    data[at - 2 : at] = (0xFFFF).to_bytes(2, "little")  # element length past the end of the file
    broken = pydicom.dcmread(io.BytesIO(bytes(data[: at + 40])), defer_size=16)
    with pytest.raises((MalformedInput, RejectedInstance)):
        deidentify(broken, profile=CLINICAL_SHARING, keys=keys, subject=subject_for(WANG))


def test_pydicom_chinese_charset_file_comes_out_clean(keys: Keys) -> None:
    ds = pydicom.dcmread(get_charset_files("chrX2.dcm")[0])  # GB18030: Wang^XiaoDong=王^小东
    originals = collect_uids(ds)
    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=Subject(pseudonym="P1"))
    data = serialize(result.dataset)
    assert "王".encode("gb18030") not in data and b"XiaoDong" not in data
    assert verify(data, KnownIdentifiers(names=("Wang^XiaoDong=王^小东",)), original_uids=originals) == []


def test_mislabeled_charset_text_is_scrubbed(study: Callable[..., list[Dataset]], keys: Keys) -> None:
    """GB18030 bytes under a Latin-1 declaration decode to mojibake; the name's mis-decoded form is scrubbed."""
    ds = study(WANG, charset="GB18030")[0]
    data = bytearray(serialize(ds))
    assert data.count(b"GB18030 ") == 1
    data = data.replace(b"GB18030 ", b"ISO_IR 6")  # same length: declared default repertoire, bytes GB18030
    mislabeled = pydicom.dcmread(io.BytesIO(bytes(data)))
    assert WANG.chinese_name not in str(mislabeled.StudyDescription)  # precondition: it decodes to mojibake
    result = deidentify(mislabeled, profile=CLINICAL_SHARING, keys=keys, subject=subject_for(WANG))
    out = serialize(result.dataset)
    assert WANG.chinese_name.encode("gb18030") not in out
    assert WANG.chinese_name.encode("gb18030").decode("latin-1").encode("utf-8") not in out
    assert result.record.scrubbed > 0


TEXT_PLANTS = ("LO", "LT", "ST", "UT")


def _plant_forms(person: Person) -> list[str]:
    family, given = person.pinyin.split("^")
    return [
        person.chinese_name,
        f"{person.family} {person.given}",
        f"{given.upper()} {family.upper()}",
        f"{family.lower()}{given.lower()}",
        full_width(person.national_id),
        f"{person.national_id[:6]} {person.national_id[6:14]} {person.national_id[14:]}",
        f"{person.mobile[:3]}-{person.mobile[3:7]}-{person.mobile[7:]}",
        f"+86 {person.mobile}",
        person.mrn.lower(),
        person.address,
    ]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    depth=st.integers(min_value=0, max_value=4),
    form=st.integers(min_value=0, max_value=9),
    vr=st.sampled_from(TEXT_PLANTS),
    prefix=st.sampled_from(["", "患者 ", "Patient: ", "备注："]),
    known=st.booleans(),
)
def test_identifier_planted_at_any_depth_is_removed(
    keys: Keys, depth: int, form: int, vr: str, prefix: str, known: bool
) -> None:
    ds = ct_series(WANG, slices=1, charset="ISO_IR 192")[0]
    planted = _plant_forms(WANG)[form]
    holder: Dataset = ds
    for level in range(depth):
        item = Dataset()
        item.CodeValue = f"L{level}"
        item.CodingSchemeDesignator = "99TEST"
        item.CodeMeaning = "nested"
        holder.add_new(0x0040A730 if level % 2 else 0x00081250, "SQ", Sequence([item]))  # unlisted sequences
        holder = item
    tag = {"LO": 0x00081040, "LT": 0x00204000, "ST": 0x00080081, "UT": 0x0040A160}[vr]
    holder.add_new(0x00324000, "LT", f"{prefix}{planted} 随访")  # Study Comments, text around the identifier
    holder.add_new(tag if depth else 0x00189004, vr if depth else "CS", "A" if not depth else f"{prefix}{planted}")
    subject = subject_for(WANG, known=known) if known else Subject(pseudonym="P1", known=KnownIdentifiers())
    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=subject)
    data = serialize(result.dataset)
    assert verify(data, WANG.known()) == []
    assert residue(data, WANG) == []


def test_every_pydicom_test_file_is_deidentified_cleanly_or_refused_with_a_typed_error(keys: Keys) -> None:
    root = Path(str(get_testdata_file("CT_small.dcm"))).parent
    outcomes: dict[str, int] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, defer_size=4096)
        except Exception:  # not DICOM or unreadable by pydicom: not ours to judge
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the corpus has deliberately invalid values
            try:
                originals = collect_uids(ds)
                result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=Subject(pseudonym="P1"))
            except (MalformedInput, RejectedInstance) as refused:
                outcomes[refused.code] = outcomes.get(refused.code, 0) + 1
                continue
            assert verify(serialize(result.dataset), result.known, original_uids=originals) == [], path.name
        outcomes["done"] = outcomes.get("done", 0) + 1
    assert outcomes["done"] > 100


@pytest.mark.parametrize("name", ["MR_small_implicit.dcm", "MR_small_bigendian.dcm", "CT_small.dcm"])
def test_method_code_sequence_reads_back_in_the_output_transfer_syntax(name: str, keys: Keys) -> None:
    ds = pydicom.dcmread(str(get_testdata_file(name)))
    syntax = ds.file_meta.TransferSyntaxUID
    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys, subject=Subject(pseudonym="P1"))
    out = pydicom.dcmread(io.BytesIO(serialize(result.dataset)))
    assert out.file_meta.TransferSyntaxUID == syntax
    codes = [(item.CodeValue, item.CodingSchemeDesignator) for item in out.DeidentificationMethodCodeSequence]
    assert codes == [(code, "DCM") for code in ("113100", "113108", "113106", "113105", "113104", "113103")]
    assert out.DeidentificationMethodCodeSequence[0].CodeMeaning == "Basic Application Confidentiality Profile"
