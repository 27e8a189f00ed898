"""Link tokens: only hospitals get them, only for their own cross-references, named blindly; no PHI in the trail."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from auth.principals import Role
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.identity.link_handles import link_handle
from imaging_cloud.identity.link_tokens import LINK_TOKEN_PREFIX, LinkToken
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital, mint_token, register


def link_token(client: TestClient, hospital: Hospital, patient_id: str, issuer: str = "") -> str:
    """Ask the service for a link token the way the uploader does (blinded handle, never the local id)."""
    key = bytes.fromhex(client.get("/patients/link-key", headers=hospital.headers).json()["link_key"])
    response = client.post(
        "/patients/link-tokens", headers=hospital.headers, json={"link_handle": link_handle(key, issuer, patient_id)}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["link_token"])


def test_only_hospitals_get_link_keys_and_tokens(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-7")
    doctor = {"Authorization": f"Bearer {mint_token(runtime, Role.DOCTOR, hospital_a.code, 'account:dr')}"}
    handle = {"link_handle": "0" * 64}
    assert client.get("/patients/link-key", headers=doctor).status_code == 403
    assert client.post("/patients/link-tokens", headers=doctor, json=handle).status_code == 403
    assert link_token(client, hospital_a, "MRN-7").startswith(LINK_TOKEN_PREFIX)


def test_each_institution_has_its_own_link_key(client: TestClient, hospital_a: Hospital, hospital_b: Hospital) -> None:
    a = client.get("/patients/link-key", headers=hospital_a.headers).json()["link_key"]
    b = client.get("/patients/link-key", headers=hospital_b.headers).json()["link_key"]
    assert a != b and len(bytes.fromhex(a)) == 32


def test_a_link_token_is_only_for_a_cross_reference_the_institution_registered(
    client: TestClient, hospital_a: Hospital, hospital_b: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-8")
    key_a = bytes.fromhex(client.get("/patients/link-key", headers=hospital_a.headers).json()["link_key"])
    handle = {"link_handle": link_handle(key_a, "", "MRN-8")}

    by_b = client.post("/patients/link-tokens", headers=hospital_b.headers, json=handle)
    unknown = client.post(
        "/patients/link-tokens", headers=hospital_a.headers, json={"link_handle": link_handle(key_a, "", "MRN-9")}
    )

    assert (by_b.status_code, by_b.json()["code"]) == (404, "xref-not-found")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "xref-not-found")


def test_the_token_is_stored_hashed_and_the_trail_names_the_person_by_pseudonym_only(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    pseudonym = register(client, hospital_a, patient, "MRN-10")
    token = link_token(client, hospital_a, "MRN-10")

    with runtime.units.read_only() as session:
        stored = session.scalars(select(LinkToken.token_hash)).all()
        event = session.scalars(select(AccessEvent).order_by(AccessEvent.seq.desc()).limit(1)).one()
        recorded = repr({c.name: getattr(event, c.name) for c in AccessEvent.__table__.columns})
        action, target = event.action, event.target_id
    assert token not in stored and len(stored) == 1
    assert (action, target) == ("link-token-issue", pseudonym)
    for secret in (token, "MRN-10", patient.national_id, patient.name_zh, patient.health_card):
        assert secret not in recorded
