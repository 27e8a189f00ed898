"""Report upload, listing and retrieval over HTTP: de-identified before storage, idempotent, authorized."""

from __future__ import annotations

import asyncio
import random

import pypdfium2 as pdfium
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth.principals import Role
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient
from imaging_cloud.reports.models import Report
from imaging_cloud.runtime import Runtime
from imaging_cloud.storage.fsck import run_fsck
from tests.conftest import Hospital, mint_token
from tests.reports.conftest import (
    FINDINGS,
    IMPRESSION,
    StoredStudy,
    identifiers_of,
    post_report,
    report_objects,
    report_pdf,
    report_text,
    store_study,
)

ENCODINGS = ("utf-8", "utf-16-be", "gb18030")


def _assert_no_identifiers(raw: bytes, patient: SyntheticPatient) -> None:
    for identifier in identifiers_of(patient):
        for form in {identifier, identifier.upper(), identifier.lower()}:
            for encoding in ENCODINGS:
                assert form.encode(encoding) not in raw, "an identifier survived"


def _stored_bytes(runtime: Runtime, report_uid: str) -> bytes:
    with runtime.units.read_only() as session:
        key = session.scalar(select(Report.object_key).where(Report.report_uid == report_uid))
    assert key is not None
    with runtime.store.open(key) as handle:
        return handle.read()


def _report_count(runtime: Runtime) -> int:
    with runtime.units.read_only() as session:
        return session.scalar(select(func.count()).select_from(Report)) or 0


def test_pdf_report_is_stored_image_only_without_identifiers(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, stored_study: StoredStudy
) -> None:
    response = post_report(
        client,
        hospital_a,
        stored_study.original_uid,
        "RPT-1",
        report_pdf(patient),
        "application/pdf",
        title=f"{patient.name_zh} 胸部CT报告",
        status="final",
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["study_uid"] == stored_study.study_uid
    assert body["kind"] == "pdf" and body["content_type"] == "application/pdf" and body["status"] == "final"
    assert body["report_uid"].startswith("2.25.")
    assert patient.name_zh not in body["title"] and "胸部CT报告" in body["title"]
    assert response.headers["location"] == f"/reports/{body['report_uid']}"

    raw = _stored_bytes(runtime, body["report_uid"])
    _assert_no_identifiers(raw, patient)
    document = pdfium.PdfDocument(raw)
    try:
        assert len(document) == 1
        assert document[0].get_textpage().count_chars() == 0
        assert not any(document.get_metadata_dict().values())
    finally:
        document.close()
    key = report_objects(runtime)
    assert key == [f"studies/{stored_study.study_uid}/reports/{body['report_uid']}.pdf"]
    assert run_fsck(runtime, repair=False).clean


def test_reupload_with_the_same_report_id_is_idempotent(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, stored_study: StoredStudy
) -> None:
    first = post_report(client, hospital_a, stored_study.original_uid, "RPT-1", report_pdf(patient), "application/pdf")
    again = post_report(client, hospital_a, stored_study.original_uid, "RPT-1", report_pdf(patient), "application/pdf")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = post_report(
        client, hospital_a, stored_study.original_uid, "RPT-2", report_text(patient).encode(), "text/plain"
    )
    assert other.status_code == 201
    assert other.json()["report_uid"] != first.json()["report_uid"]
    assert _report_count(runtime) == 2 and len(report_objects(runtime)) == 2


def test_text_report_is_scrubbed_and_findings_kept(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, stored_study: StoredStudy
) -> None:
    for report_id, charset in (("TXT-UTF8", "utf-8"), ("TXT-GB", "gb18030")):
        data = report_text(patient).encode(charset)
        response = post_report(
            client,
            hospital_a,
            stored_study.original_uid,
            report_id,
            data,
            f"text/plain; charset={charset}",
            status="preliminary",
        )
        assert response.status_code == 201, response.text
        assert response.json()["content_type"] == "text/plain; charset=utf-8"
        raw = _stored_bytes(runtime, response.json()["report_uid"])
        _assert_no_identifiers(raw, patient)
        text = raw.decode("utf-8")
        assert FINDINGS in text and IMPRESSION in text and "***" in text


def test_reports_are_listed_and_streamed_beside_their_study(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, stored_study: StoredStudy
) -> None:
    pdf = post_report(client, hospital_a, stored_study.original_uid, "RPT-1", report_pdf(patient), "application/pdf")
    text = post_report(
        client, hospital_a, stored_study.original_uid, "RPT-2", report_text(patient).encode(), "text/plain"
    )
    listed = client.get(f"/studies/{stored_study.study_uid}/reports", headers=hospital_a.headers)
    assert listed.status_code == 200
    assert [r["report_uid"] for r in listed.json()] == [pdf.json()["report_uid"], text.json()["report_uid"]]

    retrieved = client.get(pdf.json()["url"], headers=hospital_a.headers)
    assert retrieved.status_code == 200
    assert retrieved.headers["content-type"] == "application/pdf"
    assert retrieved.content == _stored_bytes(runtime, pdf.json()["report_uid"])
    assert pdf.json()["report_uid"] in retrieved.headers["content-disposition"]
    retrieved_text = client.get(text.json()["url"], headers=hospital_a.headers)
    assert retrieved_text.headers["content-type"] == "text/plain; charset=utf-8"
    assert FINDINGS in retrieved_text.text


def test_other_hospitals_and_roles_do_not_see_reports(
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    hospital_b: Hospital,
    admin_token: str,
    patient: SyntheticPatient,
    stored_study: StoredStudy,
) -> None:
    uploaded = post_report(
        client, hospital_a, stored_study.original_uid, "RPT-1", report_text(patient).encode(), "text/plain"
    )
    url = uploaded.json()["url"]
    assert client.get(url).status_code == 401
    assert client.get(url, headers=hospital_b.headers).json()["code"] == "report-not-found"
    assert client.get(url, headers=hospital_b.headers).status_code == 404
    assert client.get(f"/studies/{stored_study.study_uid}/reports", headers=hospital_b.headers).status_code == 404
    admin = {"Authorization": f"Bearer {admin_token}"}
    assert client.get(url, headers=admin).status_code == 404
    assert client.get("/reports/2.25.12345", headers=hospital_a.headers).status_code == 404
    # Hospital B cannot attach a report to a study it did not upload, nor an admin to any study.
    refused = post_report(client, hospital_b, stored_study.original_uid, "B-1", b"x", "text/plain")
    assert refused.status_code == 404
    doctor = mint_token(runtime, Role.DOCTOR, hospital_a.code)
    as_doctor = client.post(
        "/reports",
        headers={"Authorization": f"Bearer {doctor}"},
        data={"study_instance_uid": stored_study.original_uid, "report_id": "D-1"},
        files={"file": ("r.txt", b"x", "text/plain")},
    )
    assert as_doctor.status_code == 403
    assert _report_count(runtime) == 1


def test_a_study_shared_by_two_hospitals_shows_each_only_its_own_reports(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, hospital_b: Hospital, patient: SyntheticPatient
) -> None:
    study_a = store_study(client, hospital_a, patient, "A-1")
    study_b = store_study(client, hospital_b, patient, "B-1")
    post_report(client, hospital_a, study_a.original_uid, "R", report_text(patient).encode(), "text/plain")
    from_b = post_report(client, hospital_b, study_b.original_uid, "R", report_text(patient).encode(), "text/plain")
    assert from_b.status_code == 201, "the same report id at another hospital is another report"
    listed = client.get(f"/studies/{study_b.study_uid}/reports", headers=hospital_b.headers).json()
    assert [r["report_uid"] for r in listed] == [from_b.json()["report_uid"]]


def test_same_report_id_for_another_study_is_a_conflict(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, stored_study: StoredStudy
) -> None:
    other = store_study(client, hospital_a, make_patient(random.Random(99)), "MRN-OTHER")
    post_report(client, hospital_a, stored_study.original_uid, "RPT-1", b"report one", "text/plain")
    response = post_report(client, hospital_a, other.original_uid, "RPT-1", b"report two", "text/plain")
    assert response.status_code == 409
    assert response.json()["code"] == "report-study-conflict"


@pytest.mark.parametrize(
    ("data", "content_type", "fields", "status", "code"),
    [
        (b"plain", "image/png", {}, 415, "unsupported-report-type"),
        (b"plain", "text/plain; charset=latin-9", {}, 415, "unsupported-charset"),
        (b"\xff\xfe\xfa not utf-8", "text/plain; charset=utf-8", {}, 422, "report-text-undecodable"),
        (b"GIF89a", "application/pdf", {}, 422, "report-not-pdf"),
        (b"%PDF-1.7\n garbage", "application/pdf", {}, 422, "report-pdf-unreadable"),
        (b"not dicom at all", "application/dicom", {}, 422, "report-not-dicom"),
        (b"text", "text/plain", {"status": "draft"}, 422, "invalid-report-status"),
        (b"text", "text/plain", {"study_instance_uid": "1.2.abc"}, 422, "invalid-study-uid"),
        (b"text", "text/plain", {"study_instance_uid": "1.2.3.4"}, 404, "study-not-found"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_stored(
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    stored_study: StoredStudy,
    data: bytes,
    content_type: str,
    fields: dict[str, str],
    status: int,
    code: str,
) -> None:
    form = {"study_instance_uid": stored_study.original_uid, "report_id": "BAD-1", **fields}
    response = client.post(
        "/reports", headers=hospital_a.headers, data=form, files={"file": ("report", data, content_type)}
    )
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert _report_count(runtime) == 0 and report_objects(runtime) == []
    assert run_fsck(runtime, repair=False).clean


def test_malformed_forms_are_refused(client: TestClient, hospital_a: Hospital, stored_study: StoredStudy) -> None:
    json_body = client.post("/reports", headers=hospital_a.headers, json={"report_id": "x"})
    assert (json_body.status_code, json_body.json()["code"]) == (415, "unsupported-media-type")
    missing = client.post(
        "/reports", headers=hospital_a.headers, data={"report_id": "x"}, files={"file": ("r.txt", b"x", "text/plain")}
    )
    assert missing.status_code == 422
    assert missing.json()["detail"] == [{"loc": ["body", "study_instance_uid"], "msg": "field required"}]
    no_file = client.post(
        "/reports",
        headers=hospital_a.headers,
        data={"report_id": "x", "study_instance_uid": stored_study.original_uid},
        files={"other": ("r.txt", b"x", "text/plain")},
    )
    assert (no_file.status_code, no_file.json()["code"]) == (400, "malformed-form")
    truncated = client.post(
        "/reports",
        headers={**hospital_a.headers, "Content-Type": "multipart/form-data; boundary=abc"},
        content=b'--abc\r\nContent-Disposition: form-data; name="report_id"\r\n\r\nx',
    )
    assert (truncated.status_code, truncated.json()["code"]) == (400, "truncated-multipart")


def test_oversized_report_is_refused_with_413(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, stored_study: StoredStudy
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"max_report_bytes": 4096})
    response = post_report(client, hospital_a, stored_study.original_uid, "BIG-1", b"a" * 5000, "text/plain")
    assert response.status_code == 413
    assert response.json()["code"] == "part-too-large"
    assert _report_count(runtime) == 0 and report_objects(runtime) == []
    fits = post_report(client, hospital_a, stored_study.original_uid, "SMALL-1", b"a" * 4000, "text/plain")
    assert fits.status_code == 201


def test_failed_index_write_leaves_no_object(
    app: FastAPI,
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    stored_study: StoredStudy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The object is written inside the unit of work: when the row cannot be committed, the object goes too."""

    def fail_flush(self: Session, objects: object = None) -> None:
        if any(isinstance(o, Report) for o in self.new):
            raise RuntimeError("database went away")
        original_flush(self, objects)  # type: ignore[arg-type]

    original_flush = Session.flush
    monkeypatch.setattr(Session, "flush", fail_flush)
    with TestClient(app, raise_server_exceptions=False) as quiet:
        response = post_report(
            quiet, hospital_a, stored_study.original_uid, "RPT-X", report_text(patient).encode(), "text/plain"
        )
    assert response.status_code == 500
    monkeypatch.undo()
    assert _report_count(runtime) == 0 and report_objects(runtime) == []
    assert run_fsck(runtime, repair=False).clean


def test_upload_route_documents_its_form_in_openapi(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/reports"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(body["required"]) == {"study_instance_uid", "report_id", "file"}


def test_client_disconnect_mid_upload_stores_nothing(
    app: FastAPI,
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    stored_study: StoredStudy,
) -> None:
    """The ASGI app sees the body end in ``http.disconnect``: nothing is stored, the service keeps serving."""
    request = client.build_request(
        "POST",
        "/reports",
        headers=hospital_a.headers,
        data={"study_instance_uid": stored_study.original_uid, "report_id": "CUT-1"},
        files={"file": ("r.pdf", report_pdf(patient), "application/pdf")},
    )
    body = request.read()
    messages = [{"type": "http.request", "body": body[: len(body) // 2], "more_body": True}]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/reports",
        "raw_path": b"/reports",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "app": app,
        "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert _report_count(runtime) == 0 and report_objects(runtime) == []
    assert client.get("/healthz").status_code == 200
    assert run_fsck(runtime, repair=False).clean
