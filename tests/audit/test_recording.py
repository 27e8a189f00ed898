"""Each kind of request leaves exactly the event it should: allowed reads with their basis, uploads with counts,
denials with the reason only the trail may know, sign-ins — and never a person's identifiers."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from fastapi.testclient import TestClient

from auth.principals import Role
from imaging_cloud.accounts.service import create_account
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.demo.synthetic import SyntheticPatient, make_study
from imaging_cloud.runtime import Runtime
from tests.audit.conftest import PATIENT_ID, TINY_CT, Stored, events_after, last_seq, stow, verify
from tests.conftest import Hospital, mint_token, register
from tests.dicomweb.conftest import live_server  # noqa: F401 (a fixture)


def only_event(runtime: Runtime, after: int) -> AccessEvent:
    events = events_after(runtime, after)
    assert len(events) == 1, [(e.action, e.status) for e in events]
    return events[0]


def test_search_records_its_query_keys_and_result_count_never_the_values(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, stored: Stored, patient: SyntheticPatient
) -> None:
    before = last_seq(runtime)
    response = client.get(
        "/dicomweb/studies",
        params={"PatientName": patient.name_pinyin, "StudyDate": "20250301", "limit": "5"},
        headers={**hospital_a.headers, "User-Agent": "viewer/1.0", "X-Request-ID": "trace-42"},
    )
    assert response.status_code == 200
    event = only_event(runtime, before)
    assert (event.action, event.decision, event.basis, event.status) == ("search", "allow", "own-upload", 200)
    assert (event.actor, event.actor_role, event.institution) == ("client:HOSP-A", "hospital", "HOSP-A")
    assert event.details == {
        "level": "study",
        "query_keys": ["PatientName", "StudyDate", "limit"],
        "results": len(response.json()),
    }
    assert (event.user_agent, event.request_id, event.client_address) == ("viewer/1.0", "trace-42", "testclient")
    assert patient.name_pinyin not in json.dumps(event.details)


def test_retrieve_names_the_study_its_person_and_basis(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, stored: Stored
) -> None:
    before = last_seq(runtime)
    assert client.get(stored.instance_path, headers=hospital_a.headers).status_code == 200
    event = only_event(runtime, before)
    assert (event.action, event.target_kind, event.target_id) == ("retrieve", "instance", stored.sop_uids[0])
    assert event.patient == stored.pseudonym
    assert event.details == {"study": stored.study_uid, "series": stored.series_uid, "instances": 1}
    assert (event.basis, event.reason) == ("own-upload", "study uploaded by this institution")


def test_retrieve_event_is_committed_before_the_first_byte_leaves(
    live_server: str,  # noqa: F811 (the imported fixture)
    runtime: Runtime,
    hospital_a: Hospital,
    stored: Stored,
) -> None:
    before = last_seq(runtime)
    with httpx.stream("GET", f"{live_server}/dicomweb/studies/{stored.study_uid}", headers=hospital_a.headers) as r:
        assert r.status_code == 200
        # Headers are here, the body has not been read: the event is already in the database.
        event = only_event(runtime, before)
        assert (event.action, event.target_id, event.details["instances"]) == ("retrieve", stored.study_uid, 2)
        assert b"".join(r.iter_bytes())


def test_denials_are_events_with_the_reason_only_the_trail_may_know(
    client: TestClient, runtime: Runtime, hospital_b: Hospital, stored: Stored
) -> None:
    before = last_seq(runtime)
    assert client.get(f"/dicomweb/studies/{stored.study_uid}/metadata").status_code == 401
    forged = mint_token(runtime, Role.HOSPITAL, "HOSP-A")[:-4] + "AAAA"
    assert client.get("/dicomweb/studies", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    answer = client.get(stored.instance_path, headers=hospital_b.headers)
    assert answer.status_code == 404
    assert "uploaded by this institution" not in answer.text
    doctor = {"Authorization": f"Bearer {mint_token(runtime, Role.DOCTOR, 'HOSP-B', subject='account:doc')}"}
    assert stow(client, Hospital("HOSP-B", 0, doctor["Authorization"][7:]), []).status_code == 403

    missing, bad, invisible, forbidden = events_after(runtime, before)
    assert (missing.decision, missing.status, missing.outcome, missing.actor) == (
        "deny",
        401,
        "token-missing",
        "anonymous",
    )
    assert (missing.action, missing.target_kind, missing.target_id) == ("retrieve-metadata", "study", stored.study_uid)
    assert (bad.outcome, bad.details) == ("token-invalid", {"token_failure": "bad-signature"})
    assert (invisible.decision, invisible.status, invisible.actor, invisible.institution) == (
        "deny",
        404,
        "client:HOSP-B",
        "HOSP-B",
    )
    assert invisible.reason == "study not uploaded by this institution" and invisible.basis is None
    assert invisible.target_id == stored.sop_uids[0] and invisible.patient is None
    assert (forbidden.action, forbidden.decision, forbidden.status, forbidden.actor_role) == (
        "upload",
        "deny",
        403,
        "doctor",
    )
    assert forbidden.reason == "only hospital systems upload or register patients"


def test_failures_after_authorization_are_recorded_as_errors(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, stored: Stored
) -> None:
    before = last_seq(runtime)
    frames = client.get(f"{stored.instance_path}/frames/9", headers=hospital_a.headers)
    assert frames.status_code == 404
    not_multipart = client.post("/dicomweb/studies", content=b"x", headers=hospital_a.headers)
    assert not_multipart.status_code == 415
    frame_event, stow_event = events_after(runtime, before)
    assert (frame_event.action, frame_event.decision, frame_event.outcome) == (
        "retrieve-frames",
        "deny",
        "frame-not-found",
    )
    assert (stow_event.decision, stow_event.status, stow_event.outcome) == ("error", 415, "unsupported-media-type")
    assert stow_event.basis == "own-institution"  # the route guard had allowed the upload itself


def test_upload_is_one_event_with_counts_and_no_original_uids(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    pseudonym = register(client, hospital_a, patient, PATIENT_ID)
    good = list(make_study(patient, TINY_CT, patient_id=PATIENT_ID, seed=3))
    stranger = list(make_study(patient, TINY_CT, patient_id="NOT-REGISTERED", seed=4))[:1]
    before = last_seq(runtime)
    response = stow(client, hospital_a, [*good, *stranger])
    assert response.status_code == 202
    event = only_event(runtime, before)
    study_uid = response.json()["00081190"]["Value"][0].rsplit("/", 1)[1]
    assert (event.action, event.decision, event.status, event.outcome) == ("upload", "allow", 202, "some-failed")
    assert (event.target_kind, event.target_id, event.patient) == ("study", study_uid, pseudonym)
    details = event.details
    assert (details["instances"], details["stored"], details["already_present"], details["failed"]) == (3, 2, 0, 1)
    assert details["failure_reasons"] == {"unknown-patient": 1}
    assert [o["outcome"] for o in details["outcomes"]] == ["stored", "stored", "failed"]
    text = json.dumps(details)
    for original in (*good, *stranger):
        assert str(original.SOPInstanceUID) not in text and str(original.StudyInstanceUID) not in text

    before = last_seq(runtime)
    again = stow(client, hospital_a, good, path=f"/dicomweb/studies/{good[0].StudyInstanceUID}")
    assert again.status_code == 200
    event = only_event(runtime, before)
    assert (event.target_id, event.details["already_present"]) == (study_uid, 2)  # URL UID de-identified


def test_registration_report_and_admin_events(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, stored: Stored, admin_token: str
) -> None:
    events = [e for e in events_after(runtime, 0) if e.action in ("register-xref", "upload-report")]
    xref, report = events
    assert (xref.target_kind, xref.target_id, xref.patient, xref.status) == (
        "person",
        stored.pseudonym,
        stored.pseudonym,
        201,
    )
    assert (report.target_kind, report.target_id, report.patient, report.status) == (
        "report",
        stored.report_uid,
        stored.pseudonym,
        201,
    )

    before = last_seq(runtime)
    assert client.get(f"/studies/{stored.study_uid}/reports", headers=hospital_a.headers).status_code == 200
    assert client.get(f"/reports/{stored.report_uid}", headers=hospital_a.headers).status_code == 200
    admin = {"Authorization": f"Bearer {admin_token}"}
    created = client.post("/admin/institutions", json={"code": "HOSP-C", "name": "丙医院"}, headers=admin)
    assert created.status_code == 201
    listed, read, institution = events_after(runtime, before)
    assert (listed.action, listed.details, listed.patient) == ("list-reports", {"reports": 1}, stored.pseudonym)
    assert (read.action, read.target_id, read.details["study"]) == ("read-report", stored.report_uid, stored.study_uid)
    assert (institution.action, institution.target_id, institution.basis) == (
        "create-institution",
        "HOSP-C",
        "administrator",
    )


def test_sign_in_success_and_failure_are_recorded(client: TestClient, runtime: Runtime, hospital_a: Hospital) -> None:
    with runtime.units() as uow:
        account = create_account(uow.session, "uploader-a", "uploader-secret-123", Role.HOSPITAL, "HOSP-A")
        account_id = account.id
    before = last_seq(runtime)
    ok = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": "uploader-a", "client_secret": "uploader-secret-123"},
    )
    assert ok.status_code == 200
    wrong = {"grant_type": "client_credentials", "client_id": "uploader-a", "client_secret": "wrong-secret-000"}
    assert client.post("/auth/token", data=wrong).status_code == 401
    unknown = {"grant_type": "password", "username": "110101199003070011", "password": "whatever-123"}
    assert client.post("/auth/token", data=unknown).status_code == 401
    assert client.post("/auth/token", data={"grant_type": "implicit"}).status_code == 400

    success, failure, nobody, bad_grant = events_after(runtime, before)
    claims = runtime.verifier.verify(ok.json()["access_token"])
    assert (success.action, success.decision, success.actor, success.token_id) == (
        "sign-in",
        "allow",
        f"account:{account_id}",
        claims.jti,
    )
    assert (success.institution, success.target_id, success.basis) == ("HOSP-A", f"account:{account_id}", "credentials")
    assert (failure.decision, failure.status, failure.actor) == ("deny", 401, f"account:{account_id}")
    assert (nobody.decision, nobody.actor) == ("deny", "anonymous")  # an unknown name (here an ID) is not kept
    assert "110101199003070011" not in json.dumps([nobody.details, nobody.reason, nobody.actor])
    assert (bad_grant.decision, bad_grant.status, bad_grant.outcome) == ("error", 400, "unsupported-grant-type")


def test_request_ids_are_the_clients_when_well_formed(
    client: TestClient, runtime: Runtime, hospital_a: Hospital
) -> None:
    before = last_seq(runtime)
    client.get("/dicomweb/studies", headers={**hospital_a.headers, "X-Request-ID": "ok-id_1.2:3"})
    client.get("/dicomweb/studies", headers={**hospital_a.headers, "X-Request-ID": "Zhang San 110101199003070011 " * 3})
    kept, replaced = events_after(runtime, before)
    assert kept.request_id == "ok-id_1.2:3"
    assert replaced.request_id is not None and len(replaced.request_id) == 32 and "Zhang" not in replaced.request_id


def test_path_values_that_are_not_uids_stay_out_of_the_trail(
    client: TestClient, runtime: Runtime, hospital_a: Hospital
) -> None:
    before = last_seq(runtime)
    assert client.get("/dicomweb/studies/110101199003070011/metadata", headers=hospital_a.headers).status_code == 404
    event = only_event(runtime, before)
    assert (event.target_kind, event.target_id) == ("study", "not-a-uid")


def test_no_event_holds_a_persons_identifiers(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, stored: Stored, patient: SyntheticPatient
) -> None:
    client.get("/dicomweb/studies", params={"PatientID": PATIENT_ID}, headers=hospital_a.headers)
    client.get("/dicomweb/studies", params={"PatientName": patient.name_zh}, headers=hospital_a.headers)
    client.get(f"/dicomweb/studies/{stored.study_uid}/series", headers=hospital_a.headers)
    secrets = [
        patient.national_id,
        patient.name_zh,
        patient.name_pinyin,
        patient.name_pinyin.replace("^", " "),
        patient.health_card,
        patient.phone,
        PATIENT_ID,
        stored.original_study_uid,
        *stored.original_sop_uids,
    ]
    events = events_after(runtime, 0)
    assert len(events) >= 6
    dump = json.dumps([{c.name: str(getattr(e, c.name)) for c in AccessEvent.__table__.columns} for e in events])
    for secret in secrets:
        assert secret not in dump, "an identifier reached the audit trail"
    assert verify(runtime).ok


def test_event_times_are_utc_and_follow_the_chain(client: TestClient, runtime: Runtime, stored: Stored) -> None:
    events = events_after(runtime, 0)
    assert all(e.occurred_at.tzinfo == dt.UTC for e in events)
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
