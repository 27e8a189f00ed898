"""Report fixtures: PDFs written with reportlab (Chinese in the STSong-Light CID font), a stored study to attach to."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_study
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital, register
from tests.stow_client import stow_body

FONT = "STSong-Light"
FINDINGS = "检查所见: 双肺纹理清晰, 未见明显结节。"
IMPRESSION = "Impression: no acute cardiopulmonary abnormality."
SMALL_CT = StudySpec("CT", "CHEST", "胸部CT平扫", instances=1, rows=32, columns=32)

# Where report_pdf draws each line (points from the bottom-left of an A4 page).
LEFT = 72
LINE_Y = {"name": 760, "pinyin": 740, "national_id": 720, "phone": 700, "findings": 640, "impression": 620}


def identifiers_of(patient: SyntheticPatient) -> list[str]:
    """The strings that must not survive in any stored report of ``patient``."""
    family, given = patient.name_pinyin.split("^")
    return [patient.name_zh, f"{family} {given}", family + given, patient.national_id, patient.phone]


def report_pdf(patient: SyntheticPatient, *, rotate: int = 0, with_metadata: bool = True, pages: int = 1) -> bytes:
    """A radiology report carrying the patient's identifiers in the text layer and the metadata."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    if with_metadata:
        pdf.setTitle(f"{patient.name_zh} 影像报告")
        pdf.setAuthor(patient.name_pinyin.replace("^", " "))
        pdf.setSubject(patient.national_id)
        pdf.setKeywords([patient.phone])
    family, given = patient.name_pinyin.split("^")
    for _ in range(pages):
        if rotate:
            pdf.setPageRotation(rotate)
        pdf.setFont(FONT, 12)
        pdf.drawString(LEFT, LINE_Y["name"], f"姓名: {patient.name_zh}")
        pdf.drawString(LEFT, LINE_Y["pinyin"], f"Name: {family.upper()} {given}")
        pdf.drawString(LEFT, LINE_Y["national_id"], f"身份证号: {patient.national_id}")
        pdf.drawString(LEFT, LINE_Y["phone"], f"联系电话: {patient.phone[:3]}-{patient.phone[3:7]}-{patient.phone[7:]}")
        pdf.drawString(LEFT, LINE_Y["findings"], FINDINGS)
        pdf.drawString(LEFT, LINE_Y["impression"], IMPRESSION)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def report_text(patient: SyntheticPatient) -> str:
    family, given = patient.name_pinyin.split("^")
    return (
        f"患者 {patient.name_zh} ({given} {family}), 身份证 {patient.national_id}, 电话 {patient.phone}\n"
        f"{FINDINGS}\n{IMPRESSION}\n"
    )


@dataclass(frozen=True)
class StoredStudy:
    original_uid: str
    """The hospital's StudyInstanceUID (what it sends with a report)."""
    study_uid: str
    """The de-identified StudyInstanceUID the cloud stores."""
    patient_id: str
    first: Dataset


def store_study(client: TestClient, hospital: Hospital, patient: SyntheticPatient, patient_id: str) -> StoredStudy:
    register(client, hospital, patient, patient_id)
    datasets = list(make_study(patient, SMALL_CT, patient_id=patient_id))
    body, content_type = stow_body(datasets)
    response = client.post(
        "/dicomweb/studies", content=body, headers={**hospital.headers, "Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    study_uid = response.json()["00081190"]["Value"][0].rsplit("/", 1)[1]
    return StoredStudy(str(datasets[0].StudyInstanceUID), study_uid, patient_id, datasets[0])


@pytest.fixture
def stored_study(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> StoredStudy:
    return store_study(client, hospital_a, patient, "MRN-REPORT-1")


def post_report(
    client: TestClient,
    hospital: Hospital,
    study_instance_uid: str,
    report_id: str,
    data: bytes,
    content_type: str,
    **fields: str,
):  # type: ignore[no-untyped-def]
    return client.post(
        "/reports",
        headers=hospital.headers,
        data={"study_instance_uid": study_instance_uid, "report_id": report_id, **fields},
        files={"file": ("report", data, content_type)},
    )


def report_objects(runtime: Runtime) -> list[str]:
    return [obj.key for obj in runtime.store.iter("studies/") if "/reports/" in obj.key]
