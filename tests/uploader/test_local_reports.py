"""``imaging-cloud upload-report``: plain and local mode; in the local mode no identifier of the patient crosses the
wire, the report lands on the study its locally de-identified images made, and the cloud refuses (never silently
fixes) residue, foreign or expired link tokens and studies of another person.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pydicom
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

import deidentify
from deidentify.reports import scrub_text_report
from imaging_cloud.cli import main
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.identity.link_tokens import LinkToken
from imaging_cloud.reports.models import Report
from imaging_cloud.runtime import Runtime
from imaging_cloud.uploader.report_upload import local_report_id
from tests.conftest import Hospital, register
from tests.identity.test_link_tokens import link_token
from tests.reports.conftest import FINDINGS, IMPRESSION, report_pdf, report_text
from tests.uploader.conftest import LiveService, RecordingProxy, register_over_http, tiny_datasets, write_study
from tests.uploader.test_local_deidentification import (
    LOCAL_ID,
    UID_KEY,
    identifier_forms,
    locally_deidentified,
    stow,
)

REPORT_ID = "ACC-20240517-0042"


@pytest.fixture
def hospital_files(tmp_path: Path, patient: SyntheticPatient) -> dict[str, Path]:
    """The UID key, the known-identifiers JSON and both reports, as files on the hospital's machine."""
    (tmp_path / "uid.key").write_bytes(UID_KEY + b"\n")
    family, given = patient.name_pinyin.split("^")
    known = {
        "names": [patient.name_zh, patient.name_pinyin, f"{family} {given}"],
        "ids": [patient.national_id, patient.health_card, LOCAL_ID],
        "phones": [patient.phone],
    }
    (tmp_path / "known.json").write_text(json.dumps(known, ensure_ascii=False), encoding="utf-8")
    (tmp_path / f"{patient.name_zh}.txt").write_text(report_text(patient), encoding="gb18030")
    (tmp_path / f"{patient.name_zh}.pdf").write_bytes(report_pdf(patient))
    return {
        "key": tmp_path / "uid.key",
        "known": tmp_path / "known.json",
        "text": tmp_path / f"{patient.name_zh}.txt",
        "pdf": tmp_path / f"{patient.name_zh}.pdf",
        "manifest": tmp_path / "manifest.jsonl",
    }


def local_report_args(files: dict[str, Path], url: str, hospital: Hospital, report: str, study_uid: str) -> list[str]:
    return [
        "upload-report",
        str(files[report]),
        "--url",
        url,
        "--token",
        hospital.token,
        "--study-uid",
        study_uid,
        "--report-id",
        f"{REPORT_ID}-{report}",
        "--patient-id",
        LOCAL_ID,
        "--deidentify-locally",
        "--uid-key-file",
        str(files["key"]),
        "--known-identifiers",
        str(files["known"]),
        "--manifest",
        str(files["manifest"]),
        "--charset",
        "gb18030",
    ]


def test_local_reports_send_no_identifier_and_land_on_the_study_of_the_locally_uploaded_images(
    live: LiveService,
    proxy: tuple[str, RecordingProxy],
    http: httpx.Client,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    hospital_files: dict[str, Path],
    tmp_path: Path,
) -> None:
    register_over_http(http, live, hospital_a, patient, LOCAL_ID)
    paths = write_study(tmp_path / "study", patient, LOCAL_ID, 2, seed=11)
    originals = [pydicom.dcmread(p) for p in paths]
    original_study = str(originals[0].StudyInstanceUID)
    proxy_url, recorder = proxy
    images = [
        "upload",
        str(tmp_path / "study"),
        "--url",
        proxy_url,
        "--token",
        hospital_a.token,
        "--deidentify-locally",
        "--uid-key-file",
        str(hospital_files["key"]),
        "--manifest",
        str(hospital_files["manifest"]),
        "--no-progress",
    ]
    assert main(images) == 0
    title = ["--title", f"{patient.name_zh} 胸部CT报告"]

    text_code = main(local_report_args(hospital_files, proxy_url, hospital_a, "text", original_study) + title)
    pdf_code = main(local_report_args(hospital_files, proxy_url, hospital_a, "pdf", original_study))

    assert (text_code, pdf_code) == (0, 0)
    sent = bytes(recorder.sent)
    assert sent.count(b"POST /reports") == 2
    forms = identifier_forms(patient, originals)
    forms |= {f"report id {kind}": f"{REPORT_ID}-{kind}".encode() for kind in ("text", "pdf")}
    forms["phone dashed"] = f"{patient.phone[:3]}-{patient.phone[3:7]}".encode()
    for what, form in forms.items():
        assert form.lower() not in sent.lower(), f"{what} was sent"
    assert local_report_id(UID_KEY, f"{REPORT_ID}-text").encode() in sent

    study_uid = deidentify.remap_uid(original_study, UID_KEY)
    listed = http.get(f"{live.url}/studies/{study_uid}/reports", headers=hospital_a.headers)
    assert listed.status_code == 200, listed.text
    reports = {r["kind"]: r for r in listed.json()}
    assert set(reports) == {"text", "pdf"}
    assert reports["text"]["title"] == "*** 胸部CT报告"
    text = http.get(f"{live.url}{reports['text']['url']}", headers=hospital_a.headers).text
    assert FINDINGS in text and IMPRESSION in text and patient.name_zh not in text
    assert patient.national_id not in text and patient.phone not in text
    lines = [json.loads(line) for line in hospital_files["manifest"].read_text().splitlines()]
    report_lines = [line for line in lines if "report" in line]
    assert [(line["study"], line["outcome"]) for line in report_lines] == [(study_uid, "stored")] * 2
    assert {line["report"] for line in report_lines} == {r["report_uid"] for r in reports.values()}

    again = main([*local_report_args(hospital_files, live.url, hospital_a, "text", original_study), *title])
    relisted = http.get(f"{live.url}/studies/{study_uid}/reports", headers=hospital_a.headers).json()
    assert again == 0 and len(relisted) == 2


def test_a_local_report_for_a_patient_the_hospital_never_registered_is_not_sent(
    live: LiveService,
    proxy: tuple[str, RecordingProxy],
    hospital_a: Hospital,
    hospital_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy_url, recorder = proxy

    code = main(local_report_args(hospital_files, proxy_url, hospital_a, "text", "1.2.3.4"))

    assert code == 1 and "xref-not-found" in capsys.readouterr().err
    assert b"POST /reports" not in bytes(recorder.sent)


def test_plain_upload_report_sends_the_report_as_is_and_the_cloud_scrubs_it(
    live: LiveService,
    http: httpx.Client,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    hospital_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register_over_http(http, live, hospital_a, patient, "PLAIN-1")
    [path] = write_study(tmp_path / "plain", patient, "PLAIN-1", 1, seed=13)
    assert main(["upload", str(path), "--url", live.url, "--token", hospital_a.token, "--no-progress"]) == 0
    original_study = str(pydicom.dcmread(path).StudyInstanceUID)
    command = ["upload-report", str(hospital_files["pdf"]), "--url", live.url, "--token", hospital_a.token]
    command += ["--study-uid", original_study, "--report-id", "PLAIN-RPT-1", "--title", "胸部CT报告"]

    first, again = main(command), main(command)

    out = capsys.readouterr().out
    assert (first, again) == (0, 0)
    assert " stored on study " in out and "already stored" in out
    study_uid = deidentify.remap_uid(original_study, live.runtime.keys.uid_key)
    [listed] = http.get(f"{live.url}/studies/{study_uid}/reports", headers=hospital_a.headers).json()
    assert (listed["kind"], listed["title"]) == ("pdf", "胸部CT报告")


def test_upload_report_usage_errors_exit_2(
    hospital_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["upload-report", str(hospital_files["text"]), "--url", "http://127.0.0.1:9", "--token", "t"]
    base += ["--study-uid", "1.2.3", "--report-id", "R-1"]
    key = ["--uid-key-file", str(hospital_files["key"])]

    assert main([*base, "--deidentify-locally", *key, "--patient-id", LOCAL_ID]) == 2
    assert main([*base, "--deidentify-locally", "--known-identifiers", str(hospital_files["known"])]) == 2
    assert main([*base, "--known-identifiers", str(hospital_files["known"])]) == 2
    assert main([*base, *key]) == 2
    assert main(["upload-report", str(tmp_path / "missing.pdf"), *base[2:]]) == 2
    assert "--known-identifiers" in capsys.readouterr().err


# -- the cloud's side of a locally de-identified report ----------------------------------------------------------


@pytest.fixture
def local_study(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> tuple[str, str]:
    """(the hospital-keyed study UID of a locally uploaded study, a link token for its patient)."""
    register(client, hospital_a, patient, LOCAL_ID)
    token = link_token(client, hospital_a, LOCAL_ID)
    datasets = tiny_datasets(patient, LOCAL_ID, 1, seed=21)
    original_study = str(datasets[0].StudyInstanceUID)
    assert stow(client, hospital_a, locally_deidentified(datasets, token)) == []
    return deidentify.remap_uid(original_study, UID_KEY), token


def post_local(
    client: TestClient, hospital: Hospital, study_uid: str, token: str, data: bytes, content_type: str, **fields: str
) -> httpx.Response:
    return client.post(
        "/reports",
        headers=hospital.headers,
        data={
            "study_instance_uid": study_uid,
            "report_id": local_report_id(UID_KEY, "R-1"),
            "link_token": token,
            **fields,
        },
        files={"file": ("report", data, content_type)},
    )


def scrubbed_text(patient: SyntheticPatient) -> bytes:
    known = deidentify.KnownIdentifiers(names=(patient.name_zh,), ids=(patient.national_id,), phones=(patient.phone,))
    return scrub_text_report(report_text(patient).encode(), "utf-8", known)


def report_count(runtime: Runtime) -> int:
    with runtime.units.read_only() as session:
        return session.scalar(select(func.count()).select_from(Report)) or 0


def test_a_locally_scrubbed_report_is_stored_on_the_tokens_persons_study(
    client: TestClient, hospital_a: Hospital, patient: SyntheticPatient, local_study: tuple[str, str]
) -> None:
    study_uid, token = local_study

    response = post_local(client, hospital_a, study_uid, token, scrubbed_text(patient), "text/plain")
    again = post_local(client, hospital_a, study_uid, token, scrubbed_text(patient), "text/plain")

    assert (response.status_code, again.status_code) == (201, 200), response.text
    assert response.json()["study_uid"] == study_uid and again.json() == response.json()


def test_a_link_token_of_another_institution_unknown_or_expired_is_refused(
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    hospital_b: Hospital,
    patient: SyntheticPatient,
    local_study: tuple[str, str],
) -> None:
    study_uid, token = local_study
    data = scrubbed_text(patient)

    foreign = post_local(client, hospital_b, study_uid, token, data, "text/plain")
    unknown = post_local(client, hospital_a, study_uid, "LT-" + "Q" * 32, data, "text/plain")
    malformed = post_local(client, hospital_a, study_uid, "MRN-88231", data, "text/plain")
    with runtime.units() as uow:
        uow.session.execute(update(LinkToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    expired = post_local(client, hospital_a, study_uid, token, data, "text/plain")

    answers = [(r.status_code, r.json()["code"]) for r in (foreign, unknown, malformed, expired)]
    assert answers == [(422, "link-token-invalid")] * 3 + [(422, "link-token-expired")]
    assert report_count(runtime) == 0


def test_a_local_report_must_name_an_existing_study_of_the_tokens_person(
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    other_patient: SyntheticPatient,
    local_study: tuple[str, str],
) -> None:
    study_uid, _token = local_study
    register(client, hospital_a, other_patient, "OTHER-1")
    other_token = link_token(client, hospital_a, "OTHER-1")
    data = scrubbed_text(patient)

    not_theirs = post_local(client, hospital_a, study_uid, other_token, data, "text/plain")
    absent = post_local(client, hospital_a, "2.25.12345", other_token, data, "text/plain")

    assert (not_theirs.status_code, not_theirs.json()["code"]) == (422, "report-study-person-mismatch")
    assert (absent.status_code, absent.json()["code"]) == (404, "study-not-found")
    assert report_count(runtime) == 0


def test_residue_in_a_locally_deidentified_report_is_refused_not_scrubbed(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, local_study: tuple[str, str]
) -> None:
    study_uid, token = local_study

    raw_text = post_local(client, hospital_a, study_uid, token, report_text(patient).encode(), "text/plain")
    raw_pdf = post_local(client, hospital_a, study_uid, token, report_pdf(patient), "application/pdf")
    named_title = post_local(
        client, hospital_a, study_uid, token, scrubbed_text(patient), "text/plain", title=patient.name_zh
    )
    dicom = post_local(client, hospital_a, study_uid, token, b"\0" * 132, "application/dicom")

    for response in (raw_text, raw_pdf, named_title):
        assert (response.status_code, response.json()["code"]) == (422, "report-residual-identifiers")
    assert (dicom.status_code, dicom.json()["code"]) == (422, "report-local-type-unsupported")
    assert report_count(runtime) == 0
