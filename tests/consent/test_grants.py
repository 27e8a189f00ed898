"""Grants: a patient opens their studies to a doctor or an institution, in scope, until a date; revocation bites on
the very next request; the grant's uses are the audit events that rested on it."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import update

from imaging_cloud.consent.models import Grant
from imaging_cloud.runtime import Runtime
from tests.consent.conftest import World, events, grant_to


def test_a_grant_to_a_doctor_opens_the_patients_studies_to_that_doctor_only(client: TestClient, world: World) -> None:
    assert world.metadata(client, world.doctor.headers) == 404
    response = grant_to(client, world)
    assert response.status_code == 201, response.text
    grant = response.json()
    assert grant["state"] == "active" and grant["grantee"]["kind"] == "doctor"
    assert grant["grantee"]["doctor"] == "王医生" and grant["grantee"]["institution"] == world.hospital_b.code
    expires = dt.datetime.fromisoformat(grant["expires_at"])
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    assert world.metadata(client, world.doctor.headers) == 200
    assert world.metadata(client, world.doctor.headers, world.mr) == 200
    assert world.metadata(client, world.other_doctor.headers) == 404


def test_a_grant_to_an_institution_covers_each_of_its_doctors(client: TestClient, world: World) -> None:
    response = grant_to(client, world, grantee={"institution": world.hospital_b.code}, days=7)
    assert response.status_code == 201, response.text
    assert response.json()["grantee"] == {
        "kind": "institution",
        "institution": world.hospital_b.code,
        "institution_name": "山西示例医院乙",
        "doctor": None,
        "practitioner_id": None,
    }
    assert world.metadata(client, world.doctor.headers) == 200
    assert world.metadata(client, world.other_doctor.headers) == 200


def test_revocation_is_effective_on_the_doctors_very_next_request(client: TestClient, world: World) -> None:
    grant_id = grant_to(client, world).json()["id"]
    assert world.metadata(client, world.doctor.headers) == 200
    revoked = client.delete(f"/persons/{world.ref}/grants/{grant_id}", headers=world.patient_headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert world.metadata(client, world.doctor.headers) == 404
    listed = client.get(f"/persons/{world.ref}/grants", headers=world.patient_headers).json()
    assert [(g["id"], g["state"]) for g in listed] == [(grant_id, "revoked")]


def test_an_expired_grant_opens_nothing_and_is_listed_as_expired(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    grant_id = grant_to(client, world).json()["id"]
    with runtime.units() as uow:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        uow.session.execute(update(Grant).where(Grant.id == grant_id).values(expires_at=past))
    assert world.metadata(client, world.doctor.headers) == 404
    [listed] = client.get(f"/persons/{world.ref}/grants", headers=world.patient_headers).json()
    assert listed["state"] == "expired"


def test_a_listed_studies_grant_covers_those_studies_and_no_others(client: TestClient, world: World) -> None:
    response = grant_to(client, world, scope={"kind": "studies", "study_uids": [world.ct.study_uid]})
    assert response.status_code == 201, response.text
    assert world.metadata(client, world.doctor.headers, world.ct) == 200
    assert world.metadata(client, world.doctor.headers, world.mr) == 404


def test_a_modality_grant_covers_only_that_modality(client: TestClient, world: World) -> None:
    assert grant_to(client, world, scope={"kind": "modality", "modality": "MR"}).status_code == 201
    assert world.metadata(client, world.doctor.headers, world.mr) == 200
    assert world.metadata(client, world.doctor.headers, world.ct) == 404


def test_invalid_grants_are_refused_with_a_code(client: TestClient, world: World) -> None:
    cases = [
        ({"grantee": {"doctor": "desk-zhao"}}, "grantee-not-a-doctor"),
        ({"grantee": {"institution": "NOWHERE"}}, "grantee-institution-not-found"),
        ({"scope": {"kind": "studies", "study_uids": ["2.25.1"]}}, "scope-study-not-found"),
        ({"scope": {"kind": "modality"}}, "invalid-scope"),
        ({"scope": {"kind": "date-range", "date_from": "20250601", "date_to": "20250101"}}, "invalid-scope"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "invalid-expiry"),
        ({"days": 400}, "invalid-request"),
        ({"grantee": {"doctor": "dr-wang", "institution": "HOSP-B"}}, "invalid-request"),
    ]
    for body, code in cases:
        response = grant_to(client, world, **body)
        assert (response.status_code, response.json()["code"]) == (422, code), body


def test_another_persons_grants_are_not_found(client: TestClient, world: World) -> None:
    grant_id = grant_to(client, world).json()["id"]
    for method, path in [
        ("GET", f"/persons/{world.ref}/grants"),
        ("POST", f"/persons/{world.ref}/grants"),
        ("DELETE", f"/persons/{world.ref}/grants/{grant_id}"),
        ("GET", f"/persons/{world.ref}/grants/{grant_id}/uses"),
    ]:
        body = {"grantee": {"doctor": world.doctor.username}, "purpose": "treatment"}
        response = client.request(method, path, headers=world.family_headers, json=body)
        assert (response.status_code, response.json()["code"]) == (404, "person-not-found"), (method, path)
    own = client.delete(f"/persons/{world.family_ref}/grants/{grant_id}", headers=world.family_headers)
    assert (own.status_code, own.json()["code"]) == (404, "grant-not-found")
    assert world.metadata(client, world.doctor.headers) == 200


def test_a_doctor_cannot_grant_and_an_unknown_person_is_not_found(client: TestClient, world: World) -> None:
    assert grant_to(client, world, headers=world.doctor.headers).status_code == 404
    unknown = client.get(f"/persons/{'A' * 32}/grants", headers=world.patient_headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "person-not-found")


def test_the_uses_of_a_grant_are_the_accesses_that_rested_on_it(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    grant_id = grant_to(client, world).json()["id"]
    assert world.metadata(client, world.doctor.headers) == 200
    assert world.metadata(client, world.doctor.headers, world.mr) == 200
    response = client.get(f"/persons/{world.ref}/grants/{grant_id}/uses", headers=world.patient_headers)
    assert response.status_code == 200, response.text
    uses = response.json()["events"]
    assert [u["target_id"] for u in uses] == [world.mr.study_uid, world.ct.study_uid]
    for use in uses:
        assert (use["actor_role"], use["institution"], use["doctor"]) == ("doctor", world.hospital_b.code, "王医生")
        assert (use["action"], use["basis"], use["decision"]) == ("retrieve-metadata", f"grant:{grant_id}", "allow")
    [created] = events(runtime, "grant-create")
    assert (created.patient, created.target_id, created.basis) == (world.ref, world.ref, "own-data")
    assert created.details["grantee"] == world.doctor.subject and created.details["purpose"] == "second-opinion"
