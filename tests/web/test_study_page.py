"""The study page without a browser: PDF reports shown as page images (the CSP allows no frame or object), SR
reports as an outline, the viewer's embedded description (image series only, in InstanceNumber order, nothing
identifying), and refusals as the API's own error pages."""

from __future__ import annotations

import base64
import io
import json
import random
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.dev_ehc import mint_dev_id_token
from imaging_cloud.web.report_display import PAGE_WIDTH_PX, shown_report, sr_outline
from imaging_cloud.web.viewer_model import viewer_series
from tests.conftest import Hospital
from tests.reports.conftest import FINDINGS, identifiers_of, post_report, report_pdf, store_study
from tests.reports.test_dicom_reports import basic_text_sr

VIEWER_JSON = re.compile(r'<script type="application/json" id="viewer-data">(.*?)</script>', re.S)


@pytest.fixture
def browser_client(app: FastAPI) -> Iterator[TestClient]:
    """HTTPS, so the portal's Secure cookies are sent back."""
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def sign_in(client: TestClient, runtime: Runtime, patient: SyntheticPatient) -> None:
    signed_in = client.post("/auth/ehc", json={"id_token": mint_dev_id_token(runtime, patient.health_card)})
    assert signed_in.status_code == 200, signed_in.text
    client.cookies.set("ic_access", signed_in.json()["access_token"])


def test_pdf_and_sr_reports_are_shown_beside_the_images_and_the_viewer_gets_no_identifiers(
    browser_client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    study = store_study(browser_client, hospital_a, patient, "MRN-VIEW-1")
    pdf = post_report(browser_client, hospital_a, study.original_uid, "PDF-1", report_pdf(patient), "application/pdf")
    assert pdf.status_code == 201, pdf.text
    structured = basic_text_sr(study, f"{FINDINGS} 患者 {patient.name_zh}")
    sr = post_report(browser_client, hospital_a, study.original_uid, "SR-1", structured, "application/dicom")
    assert sr.status_code == 201, sr.text
    sign_in(browser_client, runtime, patient)

    page = browser_client.get(f"/web/studies/{study.study_uid}")

    assert page.status_code == 200, page.text
    assert page.headers["cache-control"] == "no-store"
    pages = re.findall(r'<img src="data:image/png;base64,([^"]+)"', page.text)
    assert len(pages) == 1, "the one-page PDF is shown as one page image"
    rendered = Image.open(io.BytesIO(base64.b64decode(pages[0])))
    assert rendered.width == PAGE_WIDTH_PX and rendered.height > rendered.width  # an A4 page, upright
    assert 'data-report-kind="sr"' in page.text
    assert "Finding" in page.text and "未见明显结节" in page.text, "the SR's content items, readable"
    assert "山西示例医院甲" in page.text, "the uploading hospital, from the timeline"
    for identifier in [*identifiers_of(patient), study.patient_id]:
        assert identifier not in page.text
    viewer = json.loads(VIEWER_JSON.search(page.text).group(1))  # type: ignore[union-attr]
    assert [s["modality"] for s in viewer["series"]] == ["CT"], "the SR's series has no image to show"
    assert viewer["series"][0]["instances"][0]["frames"] == 1
    assert viewer["series"][0]["window"] == {"center": 40, "width": 400}, "the window the CT itself carries"
    embedded = json.dumps(viewer, ensure_ascii=False)
    for identifier in [*identifiers_of(patient), study.patient_id, patient.birth_date.strftime("%Y%m%d")]:
        assert identifier not in embedded


def test_another_patients_study_and_a_malformed_uid_are_404_pages(
    browser_client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    study = store_study(browser_client, hospital_a, patient, "MRN-VIEW-2")
    other = make_patient(random.Random(7))
    store_study(browser_client, hospital_a, other, "MRN-VIEW-3")
    assert browser_client.get(f"/web/studies/{study.study_uid}").status_code == 303, "no sign-in: sign in first"
    sign_in(browser_client, runtime, other)
    for path in (f"/web/studies/{study.study_uid}", "/web/studies/not-a-uid", f"/web/studies/{'1.' * 40}1"):
        page = browser_client.get(path)
        assert page.status_code == 404, path
        assert 'data-error-code="study-not-found"' in page.text, path


def test_instances_are_in_instance_number_order_and_frames_are_counted() -> None:
    def instance(uid: str, number: int | None, frames: int | None = None) -> dict[str, object]:
        item: dict[str, object] = {
            "00080018": {"vr": "UI", "Value": [uid]},
            "00280010": {"vr": "US", "Value": [512]},
            "00280011": {"vr": "US", "Value": [256]},
            "00281050": {"vr": "DS", "Value": [40]},
            "00281051": {"vr": "DS", "Value": [400]},
        }
        if number is not None:
            item["00200013"] = {"vr": "IS", "Value": [number]}
        if frames is not None:
            item["00280008"] = {"vr": "IS", "Value": [frames]}
            item["00181063"] = {"vr": "DS", "Value": [40]}
        return item

    series = {"0020000E": {"vr": "UI", "Value": ["1.2.9"]}, "00080060": {"vr": "CS", "Value": ["CT"]}}
    no_pixels = {"00080018": {"vr": "UI", "Value": ["1.2.3.99"]}, "00200013": {"vr": "IS", "Value": [0]}}
    built = viewer_series(
        series, [instance("1.2.3.10", 10), instance("1.2.3.2", 2, frames=3), no_pixels, instance("1.2.3.x", None)]
    )
    assert built is not None
    assert [i.sop_uid for i in built.instances] == ["1.2.3.2", "1.2.3.10", "1.2.3.x"]
    assert built.image_count == 5 and (built.rows, built.columns) == (512, 256)
    assert built.own_window is not None and (built.own_window.center, built.own_window.width) == (40, 400)
    assert built.cine_fps == 25.0, "Frame Time 40 ms"
    assert viewer_series(series, [no_pixels]) is None


def test_unreadable_reports_offer_the_download_only() -> None:
    listed = {"report_uid": "2.25.1", "kind": "pdf", "content_type": "application/pdf", "url": "/reports/2.25.1"}
    assert not shown_report(listed, b"%PDF-1.4 broken", None).readable
    assert shown_report({**listed, "kind": "text", "content_type": "text/plain"}, "报告".encode(), None).text == "报告"
    assert sr_outline(b"not dicom") is None
