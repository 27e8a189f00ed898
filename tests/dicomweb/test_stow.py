"""STOW-RS: de-identification before storage, PS3.18 status codes, and nothing half-stored on bad input."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian
from sqlalchemy import func, select

from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_study, to_bytes
from imaging_cloud.runtime import Runtime
from imaging_cloud.storage.fsck import run_fsck
from imaging_cloud.studies.models import Instance, Series, Study
from tests.conftest import Hospital, register
from tests.stow_client import multipart_body, stow_body

SMALL_CT = StudySpec("CT", "CHEST", "胸部CT平扫", instances=3, rows=64, columns=64)


def _post(client: TestClient, hospital: Hospital, body: bytes, content_type: str, path: str = "/dicomweb/studies"):
    return client.post(path, content=body, headers={**hospital.headers, "Content-Type": content_type})


def _counts(runtime: Runtime) -> tuple[int, int, int, int]:
    """(studies, series, instances, objects) — and the store and the index agree (fsck is clean)."""
    assert run_fsck(runtime, repair=False, orphan_grace_seconds=0).clean
    with runtime.units.read_only() as session:
        rows = tuple(session.scalar(select(func.count()).select_from(m)) or 0 for m in (Study, Series, Instance))
    objects = sum(1 for _ in runtime.store.iter(""))
    return (*rows, objects)  # type: ignore[return-value]


def _failed_reasons(body: dict) -> list[str]:
    return [item["00000902"]["Value"][0].split(":")[0] for item in body.get("00081198", {}).get("Value", [])]


def test_stored_objects_are_deidentified_and_linked_by_pseudonym(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    pseudonym = register(client, hospital_a, patient, "MRN-001")
    datasets = list(make_study(patient, SMALL_CT, patient_id="MRN-001"))
    response = _post(client, hospital_a, *stow_body(datasets))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dicom+json")
    referenced = response.json()["00081199"]["Value"]
    assert len(referenced) == 3
    original_uids = {str(ds.SOPInstanceUID) for ds in datasets} | {str(datasets[0].StudyInstanceUID)}
    assert all(item["00081155"]["Value"][0].startswith("2.25.") for item in referenced)
    assert not {item["00081155"]["Value"][0] for item in referenced} & original_uids

    identifiers = [
        patient.name_zh,
        patient.national_id,
        patient.phone,
        "MRN-001",
        patient.name_pinyin.split("^")[0],
        *original_uids,
    ]
    for stored in runtime.store.iter(""):
        with runtime.store.open(stored.key) as handle:
            raw = handle.read()
        for identifier in identifiers:
            for encoding in ("utf-8", "gb18030", "utf-16-le"):
                assert identifier.encode(encoding) not in raw
        ds = pydicom.dcmread(io.BytesIO(raw))
        assert ds.PatientID == pseudonym
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.preamble == b"\x00" * 128
        assert not any(u in stored.key for u in original_uids)
    assert _counts(runtime) == (1, 1, 3, 3)


def test_same_person_from_two_hospitals_gets_one_pseudonym(
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    hospital_b: Hospital,
    patient: SyntheticPatient,
) -> None:
    assert register(client, hospital_a, patient, "A-1") == register(client, hospital_b, patient, "B-77")
    for hospital, local_id in ((hospital_a, "A-1"), (hospital_b, "B-77")):
        response = _post(client, hospital, *stow_body(make_study(patient, SMALL_CT, patient_id=local_id)))
        assert response.status_code == 200
    with runtime.units.read_only() as session:
        people = session.scalars(select(Study.person_id)).all()
    assert len(people) == 2 and len(set(people)) == 1


def test_reupload_is_idempotent(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-001")
    body, content_type = stow_body(make_study(patient, SMALL_CT, patient_id="MRN-001"))
    first = _post(client, hospital_a, body, content_type)
    second = _post(client, hospital_a, body, content_type)
    assert first.status_code == second.status_code == 200
    assert first.json()["00081199"] == second.json()["00081199"]
    assert _counts(runtime) == (1, 1, 3, 3)


def test_national_id_as_patient_id_resolves_without_xref(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    response = _post(client, hospital_a, *stow_body(make_study(patient, SMALL_CT, patient_id=patient.national_id)))
    assert response.status_code == 200, response.text


def test_unknown_patient_fails_with_reason_and_stores_nothing(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    response = _post(client, hospital_a, *stow_body(make_study(patient, SMALL_CT, patient_id="NOBODY")))
    assert response.status_code == 409
    assert _failed_reasons(response.json()) == ["unknown-patient"] * 3
    assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [0xC001]
    assert _counts(runtime) == (0, 0, 0, 0)


def test_partial_success_is_202_and_only_good_instances_stored(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-001")
    good = [to_bytes(ds) for ds in make_study(patient, SMALL_CT, patient_id="MRN-001")]
    body, content_type = multipart_body([*good, b"this is not DICOM at all", good[0][: len(good[0]) // 2]])
    response = _post(client, hospital_a, body, content_type)
    assert response.status_code == 202
    assert sorted(_failed_reasons(response.json())) == ["cannot-understand", "cannot-understand"]
    assert _counts(runtime) == (1, 1, 3, 3)


def test_study_conflicting_with_earlier_patient_is_refused(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    other = SyntheticPatient(
        **{
            **patient.__dict__,
            "national_id": "11010519491231002X",
            "name_zh": "李秀英",
            "health_card": "EHC0000000000000002",
        }
    )
    register(client, hospital_a, patient, "MRN-001")
    register(client, hospital_a, other, "MRN-002")
    first = list(make_study(patient, SMALL_CT, patient_id="MRN-001"))
    assert _post(client, hospital_a, *stow_body(first)).status_code == 200
    impostor = list(make_study(other, SMALL_CT, patient_id="MRN-002", study_uid=str(first[0].StudyInstanceUID)))
    response = _post(client, hospital_a, *stow_body(impostor))
    assert response.status_code == 409
    assert set(_failed_reasons(response.json())) == {"study-patient-conflict"}
    assert _counts(runtime) == (1, 1, 3, 3)


def test_study_path_must_match_instances(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-001")
    response = _post(
        client,
        hospital_a,
        *stow_body(make_study(patient, SMALL_CT, patient_id="MRN-001")),
        path="/dicomweb/studies/1.2.3.4",
    )
    assert response.status_code == 409
    assert set(_failed_reasons(response.json())) == {"study-uid-mismatch"}


def test_non_storage_sop_class_is_refused(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-001")
    ds = next(make_study(patient, SMALL_CT, patient_id="MRN-001"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.3.1.2.3.3"  # MPPS, not storage
    response = _post(client, hospital_a, *stow_body([ds]))
    assert response.status_code == 409
    assert _failed_reasons(response.json()) == ["sop-class-not-supported"]


def test_huge_declared_length_is_refused_without_allocation(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-001")
    raw = bytearray(to_bytes(next(make_study(patient, SMALL_CT, patient_id="MRN-001"))))
    marker = raw.rfind(b"\xe0\x7f\x10\x00OW\x00\x00")  # PixelData, explicit VR: 4 bytes length follow
    assert marker > 0
    raw[marker + 8 : marker + 12] = (0xFFFFFFF0).to_bytes(4, "little")
    response = _post(client, hospital_a, *multipart_body([bytes(raw)]))
    assert response.status_code == 409
    assert _failed_reasons(response.json()) == ["cannot-understand"]
    assert _counts(runtime)[2:] == (0, 0)


@pytest.mark.parametrize(
    ("content_type", "status", "code"),
    [
        ("application/json", 415, "unsupported-media-type"),
        ('multipart/related; type="application/dicom+xml"; boundary=x', 415, "unsupported-part-type"),
        ('multipart/related; type="application/dicom"', 400, "missing-boundary"),
    ],
)
def test_wrong_content_type_or_boundary(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, content_type: str, status: int, code: str
) -> None:
    response = _post(client, hospital_a, b"--x\r\n\r\nabc\r\n--x--", content_type)
    assert response.status_code == status
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty-body"),
        (b"--other\r\nContent-Type: application/dicom\r\n\r\nabc\r\n--other--\r\n", "malformed-multipart"),
        (b"--b\r\nContent-Type: application/dicom\r\n\r\nabc", "truncated-multipart"),
        (b"--b\r\nbroken header line without colon\r\n\r\nabc\r\n--b--\r\n", "malformed-multipart"),
    ],
)
def test_malformed_bodies_are_400(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, body: bytes, code: str
) -> None:
    response = _post(client, hospital_a, body, 'multipart/related; type="application/dicom"; boundary=b')
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert _counts(runtime) == (0, 0, 0, 0)


def test_oversize_part_and_request_are_413(client: TestClient, runtime: Runtime, hospital_a: Hospital) -> None:
    limit = runtime.settings.max_part_bytes
    response = _post(client, hospital_a, *multipart_body([b"\0" * (limit + 1)]))
    assert response.status_code == 413 and response.json()["code"] == "part-too-large"
    parts = [b"\0" * (limit - 1024)] * (runtime.settings.max_request_bytes // limit + 1)
    response = _post(client, hospital_a, *multipart_body(parts))
    assert response.status_code == 413 and response.json()["code"] == "request-too-large"
    assert _counts(runtime) == (0, 0, 0, 0)


def test_client_disconnect_mid_upload_stores_nothing(
    client: TestClient, app, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    """The ASGI app sees the body end in ``http.disconnect``: nothing is stored, the service keeps serving."""

    register(client, hospital_a, patient, "MRN-001")
    body, content_type = stow_body(make_study(patient, SMALL_CT, patient_id="MRN-001"))
    messages = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/dicomweb/studies",
        "raw_path": b"/dicomweb/studies",
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "app": app,
        "headers": [
            (b"authorization", f"Bearer {hospital_a.token}".encode()),
            (b"content-type", content_type.encode()),
        ],
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert _counts(runtime) == (0, 0, 0, 0)
    assert client.get("/healthz").status_code == 200


def test_upload_requires_a_hospital_token(
    client: TestClient, runtime: Runtime, admin_token: str, patient: SyntheticPatient
) -> None:
    body, content_type = stow_body(make_study(patient, SMALL_CT, patient_id="X"))
    assert client.post("/dicomweb/studies", content=body, headers={"Content-Type": content_type}).status_code == 401
    response = client.post(
        "/dicomweb/studies",
        content=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 403


def test_concurrent_uploads_of_one_study_index_each_instance_once(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-001")
    datasets = list(
        make_study(patient, StudySpec("CT", "HEAD", "头颅CT", instances=8, rows=32, columns=32), patient_id="MRN-001")
    )
    bodies = [stow_body(datasets[i::4]) for i in range(4)] * 2
    statuses: list[int] = []

    def upload(body: tuple[bytes, str]) -> None:
        statuses.append(_post(client, hospital_a, *body).status_code)

    threads = [threading.Thread(target=upload, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert _counts(runtime) == (1, 1, 8, 8)


def test_logs_carry_no_phi(
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    register(client, hospital_a, patient, "MRN-SECRET-9")
    datasets: list[Dataset] = list(make_study(patient, SMALL_CT, patient_id="MRN-SECRET-9"))
    _post(client, hospital_a, *stow_body(datasets))
    _post(client, hospital_a, *stow_body(make_study(patient, SMALL_CT, patient_id="UNKNOWN-PERSON-1")))
    text = caplog.text
    for identifier in (
        patient.name_zh,
        patient.national_id,
        "MRN-SECRET-9",
        "UNKNOWN-PERSON-1",
        patient.phone,
        str(datasets[0].StudyInstanceUID),
    ):
        assert identifier not in text


def test_part10_without_preamble_is_accepted(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    """dicomweb-client writes in-memory datasets without the 128-byte preamble; that is still Part 10."""
    register(client, hospital_a, patient, "MRN-001")
    ds = next(make_study(patient, SMALL_CT, patient_id="MRN-001"))
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds)  # no preamble: the File Meta group comes first
    raw = buffer.getvalue()
    assert raw[:2] == b"\x02\x00"
    response = _post(client, hospital_a, *multipart_body([raw]))
    assert response.status_code == 200, response.text
    assert _counts(runtime) == (1, 1, 1, 1)


def test_retrieve_urls_use_the_configured_public_base_url(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    runtime.settings.public_base_url = "https://cloud.example/"
    register(client, hospital_a, patient, "MRN-001")
    response = _post(client, hospital_a, *stow_body(make_study(patient, SMALL_CT, patient_id="MRN-001")))
    urls = [item["00081190"]["Value"][0] for item in response.json()["00081199"]["Value"]]
    assert all(url.startswith("https://cloud.example/dicomweb/studies/2.25.") for url in urls)


def test_deflated_transfer_syntax_is_accepted(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-001")
    ds = next(make_study(patient, SMALL_CT, patient_id="MRN-001"))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    response = _post(client, hospital_a, *multipart_body([buffer.getvalue()]))
    assert response.status_code == 200, response.text
    assert _counts(runtime) == (1, 1, 1, 1)
