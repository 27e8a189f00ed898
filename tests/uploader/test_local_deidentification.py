"""``imaging-cloud upload --deidentify-locally``: no identifier of the patient crosses the wire, and the study still
lands on the right person's timeline beside another hospital's plain upload.

The service runs on a loopback uvicorn; the uploader talks to it through a TCP proxy (``tests.uploader.conftest``),
which records every byte the uploader sends (request lines, headers, bodies) exactly as they cross the socket.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset
from sqlalchemy import update

import deidentify
from imaging_cloud.cli import main
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.identity.link_tokens import LinkToken
from imaging_cloud.runtime import Runtime
from imaging_cloud.uploader.credentials import StaticToken
from imaging_cloud.uploader.local_deidentification import LocalDeidentification, LocalOptions
from imaging_cloud.uploader.upload import UploadOptions, upload
from tests.conftest import Hospital
from tests.identity.test_link_tokens import link_token
from tests.stow_client import stow_body
from tests.uploader.conftest import LiveService, RecordingProxy, register_over_http, tiny_datasets, write_study

UID_KEY = b"hospital-a-uid-key-0123456789abcdef"
LOCAL_ID = "MRN-88231"


def identifier_forms(patient: SyntheticPatient, originals: list[Dataset]) -> dict[str, bytes]:
    """Every way the patient's identifiers could appear in bytes."""
    family, given = patient.name_pinyin.split("^")
    forms = {
        "name utf-8": patient.name_zh.encode("utf-8"),
        "name gb18030": patient.name_zh.encode("gb18030"),
        "name gbk": patient.name_zh.encode("gbk"),
        "pinyin dicom": patient.name_pinyin.encode(),
        "pinyin spaced": f"{family} {given}".encode(),
        "pinyin given": given.encode(),
        "national id": patient.national_id.encode(),
        "health card": patient.health_card.encode(),
        "phone": patient.phone.encode(),
        "local id": LOCAL_ID.encode(),
        "birth date": f"{patient.birth_date:%Y%m%d}".encode(),
        "accession": str(originals[0].AccessionNumber).encode(),
    }
    for ds in originals:
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
            forms[f"{keyword} {ds.SOPInstanceUID}"] = str(ds.get(keyword)).encode()
    return forms


def timeline(client: httpx.Client, live: LiveService, pseudonym: str) -> list[dict[str, object]]:
    token = live.runtime.issuer.issue(
        subject=f"person:{pseudonym}", role="patient", ttl=dt.timedelta(minutes=5), extra={"person_ref": pseudonym}
    ).token
    response = client.get(f"{live.url}/persons/{pseudonym}/studies", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    studies: list[dict[str, object]] = response.json()["studies"]
    return studies


def test_no_identifier_crosses_the_wire_and_the_study_joins_the_persons_timeline(
    live: LiveService,
    proxy: tuple[str, RecordingProxy],
    http: httpx.Client,
    hospital_a: Hospital,
    hospital_b: Hospital,
    patient: SyntheticPatient,
    tmp_path: Path,
) -> None:
    register_over_http(http, live, hospital_a, patient, LOCAL_ID)  # the identity feed, before (and apart from) uploads
    register_over_http(http, live, hospital_b, patient, "B-5531")
    plain = upload(
        Path(write_study(tmp_path / "b", patient, "B-5531", 2, seed=3)[0]).parent,
        service_url=live.url,
        tokens=StaticToken(hospital_b.token),
        client=http,
    )
    assert plain.stored == 2
    paths = write_study(tmp_path / "a", patient, LOCAL_ID, 3, seed=5)
    originals = [pydicom.dcmread(p) for p in paths]
    (tmp_path / "uid.key").write_bytes(UID_KEY + b"\n")
    proxy_url, recorder = proxy

    code = main(
        [
            "upload",
            str(tmp_path / "a"),
            "--url",
            proxy_url,
            "--token",
            hospital_a.token,
            "--deidentify-locally",
            "--uid-key-file",
            str(tmp_path / "uid.key"),
            "--manifest",
            str(tmp_path / "manifest.jsonl"),
            "--no-progress",
        ]
    )

    assert code == 0
    sent = bytes(recorder.sent)
    assert sent.count(b"POST /dicomweb/studies") >= 1 and b"/patients/link-tokens" in sent
    for what, form in identifier_forms(patient, originals).items():
        assert form.lower() not in sent.lower(), f"{what} was sent"
    manifest = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [m["outcome"] for m in manifest] == ["stored"] * 3
    study_uid = manifest[0]["study"]
    assert study_uid == deidentify.remap_uid(str(originals[0].StudyInstanceUID), UID_KEY)
    pseudonym = http.post(
        f"{live.url}/patients/xrefs",
        headers=hospital_a.headers,
        json={"patient_id": LOCAL_ID, "national_id": patient.national_id},
    ).json()["pseudonym"]
    studies = timeline(http, live, pseudonym)
    assert {(s["institution_code"], s["instance_count"]) for s in studies} == {("HOSP-A", 3), ("HOSP-B", 2)}
    assert study_uid in {s["study_uid"] for s in studies}


def test_the_local_step_uses_a_process_pool_and_resumes_like_the_plain_mode(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    register_over_http(http, live, hospital_a, patient, LOCAL_ID)
    write_study(tmp_path / "src", patient, LOCAL_ID, 4, seed=9)
    options = UploadOptions(batch_files=2, resume=True, state_path=tmp_path / "state.jsonl")
    local = LocalDeidentification(
        LocalOptions(uid_key=UID_KEY, manifest_path=tmp_path / "m.jsonl", workers=2, pool_threshold=1),
        client=http,
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
    )

    first = upload(
        tmp_path / "src",
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
        client=http,
        options=options,
        local=local,
    )
    again = upload(
        tmp_path / "src",
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
        client=http,
        options=options,
        local=local,
    )

    assert (first.stored, first.requests, first.exit_code) == (4, 2, 0)
    assert (again.already_present, again.requests) == (4, 0)


def test_a_patient_the_hospital_never_registered_fails_locally_and_nothing_is_uploaded(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    write_study(tmp_path / "src", patient, "NEVER-REGISTERED", 2)
    local = LocalDeidentification(
        LocalOptions(uid_key=UID_KEY, manifest_path=tmp_path / "m.jsonl"),
        client=http,
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
    )

    summary = upload(
        tmp_path / "src", service_url=live.url, tokens=StaticToken(hospital_a.token), client=http, local=local
    )

    assert (dict(summary.failed).keys(), summary.requests, live.gate.stow_requests) == ({"xref-not-found"}, 0, 0)


# -- the cloud refuses what a locally de-identified upload must not be --------------------------------------------


def locally_deidentified(datasets: list[Dataset], token: str) -> list[Dataset]:
    """What the uploader makes of ``datasets`` (the same library call)."""
    keys = deidentify.Keys(uid_key=UID_KEY)
    subject = deidentify.Subject(pseudonym=token)
    return [
        deidentify.deidentify(ds, profile=deidentify.CLINICAL_SHARING, keys=keys, subject=subject).dataset
        for ds in datasets
    ]


def stow(client: TestClient, hospital: Hospital, datasets: list[Dataset]) -> list[str]:
    """The failure reasons of a STOW-RS request (empty when everything was stored)."""
    body, content_type = stow_body(datasets)
    response = client.post(
        "/dicomweb/studies", content=body, headers={**hospital.headers, "Content-Type": content_type}
    )
    failed = response.json().get("00081198", {}).get("Value", [])
    return [str(item["00081197"]["Value"][0]) for item in failed]


@pytest.fixture
def registered(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> str:
    response = client.post(
        "/patients/xrefs",
        headers=hospital_a.headers,
        json={"patient_id": LOCAL_ID, "national_id": patient.national_id, "name": patient.name_zh},
    )
    assert response.status_code == 201
    return link_token(client, hospital_a, LOCAL_ID)


C_LINK_TOKEN_INVALID, C_LINK_TOKEN_EXPIRED, C_NOT_DEIDENTIFIED, C_RESIDUE = "49158", "49159", "49160", "49157"


def test_a_token_used_by_another_institution_is_refused(
    client: TestClient, hospital_b: Hospital, patient: SyntheticPatient, registered: str
) -> None:
    objects = locally_deidentified(tiny_datasets(patient, LOCAL_ID, 1), registered)
    assert stow(client, hospital_b, objects) == [C_LINK_TOKEN_INVALID]


def test_an_unknown_token_is_refused(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> None:
    objects = locally_deidentified(tiny_datasets(patient, LOCAL_ID, 1), "LT-" + "Q" * 32)
    assert stow(client, hospital_a, objects) == [C_LINK_TOKEN_INVALID]


def test_an_expired_token_is_refused(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient, registered: str
) -> None:
    with runtime.units() as uow:
        uow.session.execute(update(LinkToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    objects = locally_deidentified(tiny_datasets(patient, LOCAL_ID, 1), registered)
    assert stow(client, hospital_a, objects) == [C_LINK_TOKEN_EXPIRED]


def test_residue_in_a_locally_deidentified_object_is_refused_and_nothing_is_stored(
    client: TestClient, hospital_a: Hospital, patient: SyntheticPatient, registered: str
) -> None:
    [leaky] = locally_deidentified(tiny_datasets(patient, LOCAL_ID, 1), registered)
    leaky.SpecificCharacterSet = "ISO_IR 192"
    leaky.StudyDescription = f"CT chest {patient.name_zh}"
    [marked_but_raw] = tiny_datasets(patient, LOCAL_ID, 1, seed=2)
    marked_but_raw.PatientID = registered
    marked_but_raw.PatientIdentityRemoved = "YES"  # claims de-identification, keeps the hospital's UIDs
    [unmarked] = tiny_datasets(patient, LOCAL_ID, 1, seed=4)
    unmarked.PatientID = registered

    assert stow(client, hospital_a, [leaky]) == [C_RESIDUE]
    assert stow(client, hospital_a, [marked_but_raw]) == [C_NOT_DEIDENTIFIED]
    assert stow(client, hospital_a, [unmarked]) == [C_NOT_DEIDENTIFIED]
    assert client.get("/dicomweb/studies", headers=hospital_a.headers).json() == []


def test_a_locally_deidentified_object_is_stored_under_the_persons_pseudonym_with_the_hospitals_uids(
    client: TestClient, hospital_a: Hospital, patient: SyntheticPatient, registered: str
) -> None:
    [ds] = tiny_datasets(patient, LOCAL_ID, 1, seed=6)
    original_study = str(ds.StudyInstanceUID)
    objects = locally_deidentified([ds], registered)

    assert stow(client, hospital_a, objects) == []
    [study] = client.get("/dicomweb/studies", headers=hospital_a.headers).json()
    pseudonym = client.post(
        "/patients/xrefs", headers=hospital_a.headers, json={"patient_id": LOCAL_ID, "national_id": patient.national_id}
    ).json()["pseudonym"]
    assert study["0020000D"]["Value"] == [deidentify.remap_uid(original_study, UID_KEY)]
    assert study["00100020"]["Value"] == [pseudonym]
