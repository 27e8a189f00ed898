"""The PIX-style feed: idempotent registration, conflicts are 409, invalid national IDs are 422."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.identity.models import PatientXref, Person
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital


def _xref(patient: SyntheticPatient, patient_id: str = "MRN-1", **overrides: str) -> dict[str, str]:
    return {
        "patient_id": patient_id,
        "national_id": patient.national_id,
        "name": patient.name_zh,
        "health_card": patient.health_card,
        **overrides,
    }


def test_registration_is_idempotent(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> None:
    first = client.post("/patients/xrefs", headers=hospital_a.headers, json=_xref(patient))
    second = client.post("/patients/xrefs", headers=hospital_a.headers, json=_xref(patient))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["pseudonym"] == second.json()["pseudonym"]


def test_conflicting_reregistration_is_409(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> None:
    assert client.post("/patients/xrefs", headers=hospital_a.headers, json=_xref(patient)).status_code == 201
    other = _xref(patient, national_id="11010519491231002X", health_card="EHC-OTHER")
    response = client.post("/patients/xrefs", headers=hospital_a.headers, json=other)
    assert response.status_code == 409
    assert response.json()["code"] == "xref-conflict"


def test_invalid_check_digit_is_422_without_echoing_the_value(
    client: TestClient, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    bad = patient.national_id[:17] + ("0" if patient.national_id[17] != "0" else "1")
    response = client.post("/patients/xrefs", headers=hospital_a.headers, json=_xref(patient, national_id=bad))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid-national-id"
    assert bad not in response.text


def test_identifiers_are_stored_only_hashed_and_encrypted(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    client.post("/patients/xrefs", headers=hospital_a.headers, json=_xref(patient, patient_id="MRN-PLAIN-42"))
    with runtime.units.read_only() as session:
        person = session.scalars(select(Person)).one()
        xref = session.scalars(select(PatientXref)).one()
        values = [str(v) for row in (person, xref) for v in vars(row).values()]
        decrypted = runtime.keys.decrypt(person.national_id_encrypted)
    dump = " ".join(values)
    for identifier in (patient.national_id, "MRN-PLAIN-42", patient.name_zh):
        assert identifier not in dump
    assert decrypted == patient.national_id


def test_only_hospitals_register(client: TestClient, admin_token: str, patient: SyntheticPatient) -> None:
    assert client.post("/patients/xrefs", json=_xref(patient)).status_code == 401
    response = client.post("/patients/xrefs", headers={"Authorization": f"Bearer {admin_token}"}, json=_xref(patient))
    assert response.status_code == 403
