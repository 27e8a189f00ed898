"""DICOM reports: Structured Reports go through ingest; an Encapsulated PDF's document is redacted like a PDF."""

from __future__ import annotations

import io
import random

import pydicom
import pypdfium2 as pdfium
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import func, select

from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient, to_bytes
from imaging_cloud.reports.models import Report
from imaging_cloud.runtime import Runtime
from imaging_cloud.storage.fsck import run_fsck
from imaging_cloud.studies.models import Instance
from tests.conftest import Hospital
from tests.reports.conftest import FINDINGS, StoredStudy, identifiers_of, post_report, report_objects, report_pdf

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
BASIC_TEXT_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.11"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _document(study: StoredStudy, sop_class: str, modality: str) -> Dataset:
    """A new object in the hospital's study, with the patient module exactly as the hospital sent it."""
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    for keyword in (
        "SpecificCharacterSet",
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "PatientBirthDate",
        "PatientSex",
        "OtherPatientIDs",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "ReferringPhysicianName",
        "InstitutionName",
    ):
        if keyword in study.first:
            setattr(ds, keyword, study.first.data_element(keyword).value)  # type: ignore[union-attr]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.SeriesNumber = 99
    ds.InstanceNumber = 1
    ds.ContentDate = ds.StudyDate
    ds.ContentTime = "101500"
    ds.Manufacturer = "SyntheticRIS"
    return ds


def encapsulated_pdf(study: StoredStudy, pdf: bytes) -> bytes:
    ds = _document(study, ENCAPSULATED_PDF_STORAGE, "DOC")
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Radiology report"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    return to_bytes(ds)


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def basic_text_sr(study: StoredStudy, text: str) -> bytes:
    ds = _document(study, BASIC_TEXT_SR_STORAGE, "SR")
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code("18782-3", "LN", "Radiology Study observation")])
    finding = Dataset()
    finding.RelationshipType, finding.ValueType = "CONTAINS", "TEXT"
    finding.ConceptNameCodeSequence = Sequence([_code("121071", "DCM", "Finding")])
    finding.TextValue = text
    ds.ContentSequence = Sequence([finding])
    return to_bytes(ds)


def _instances(runtime: Runtime) -> int:
    with runtime.units.read_only() as session:
        return session.scalar(select(func.count()).select_from(Instance)) or 0


def test_encapsulated_pdf_is_stored_as_its_redacted_document(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, stored_study: StoredStudy
) -> None:
    data = encapsulated_pdf(stored_study, report_pdf(patient))
    response = post_report(client, hospital_a, stored_study.original_uid, "ENC-1", data, "application/dicom")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["content_type"]) == ("encapsulated-pdf", "application/pdf")
    raw = client.get(body["url"], headers=hospital_a.headers).content
    for identifier in [*identifiers_of(patient), stored_study.patient_id, stored_study.original_uid]:
        for encoding in ("utf-8", "utf-16-be", "gb18030"):
            assert identifier.encode(encoding) not in raw
    document = pdfium.PdfDocument(raw)
    try:
        assert len(document) == 1 and document[0].get_textpage().count_chars() == 0
    finally:
        document.close()
    assert _instances(runtime) == 1, "the DICOM wrapper is not stored"
    assert report_objects(runtime) == [f"studies/{stored_study.study_uid}/reports/{body['report_uid']}.pdf"]


def test_encapsulated_pdf_of_another_study_or_patient_is_refused(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, stored_study: StoredStudy
) -> None:
    ds = pydicom.dcmread(io.BytesIO(encapsulated_pdf(stored_study, report_pdf(patient))))
    ds.StudyInstanceUID = generate_uid()
    other_study = post_report(client, hospital_a, stored_study.original_uid, "E-1", to_bytes(ds), "application/dicom")
    assert (other_study.status_code, other_study.json()["code"]) == (422, "report-study-uid-mismatch")

    stranger = make_patient(random.Random(4242))
    ds.StudyInstanceUID = stored_study.original_uid
    ds.PatientID = stranger.national_id
    other_patient = post_report(client, hospital_a, stored_study.original_uid, "E-2", to_bytes(ds), "application/dicom")
    assert (other_patient.status_code, other_patient.json()["code"]) == (422, "report-patient-mismatch")

    image = _document(stored_study, CT_IMAGE_STORAGE, "CT")
    not_a_report = post_report(
        client, hospital_a, stored_study.original_uid, "E-3", to_bytes(image), "application/dicom"
    )
    assert (not_a_report.status_code, not_a_report.json()["code"]) == (422, "report-not-a-report")
    with runtime.units.read_only() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 0
    assert report_objects(runtime) == [] and _instances(runtime) == 1
    assert run_fsck(runtime, repair=False).clean


def test_structured_report_goes_through_ingest_and_is_indexed_beside_the_study(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, stored_study: StoredStudy
) -> None:
    data = basic_text_sr(stored_study, f"{FINDINGS} 患者 {patient.name_zh} 电话 {patient.phone}")
    response = post_report(client, hospital_a, stored_study.original_uid, "SR-1", data, "application/dicom")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["content_type"]) == ("sr", "application/dicom")
    assert _instances(runtime) == 2, "the SR is an instance of the study"
    with runtime.units.read_only() as session:
        report_key = session.scalar(select(Report.object_key).where(Report.report_uid == body["report_uid"]))
        instance_key = session.scalar(
            select(Instance.object_key).where(Instance.sop_class_uid == BASIC_TEXT_SR_STORAGE)
        )
    assert report_key == instance_key
    raw = client.get(body["url"], headers=hospital_a.headers).content
    for identifier in [*identifiers_of(patient), stored_study.patient_id]:
        for encoding in ("utf-8", "gb18030"):
            assert identifier.encode(encoding) not in raw
    ds = pydicom.dcmread(io.BytesIO(raw))
    assert "未见明显结节" in ds.ContentSequence[0].TextValue, "the finding is kept"
    again = post_report(client, hospital_a, stored_study.original_uid, "SR-1", data, "application/dicom")
    assert again.status_code == 200 and again.json()["report_uid"] == body["report_uid"]
    assert run_fsck(runtime, repair=False).clean
