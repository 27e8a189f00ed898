"""A signed-in patient takes up a proxy role for a family member only through an active proxy link."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from auth.principals import Principal, Role
from imaging_cloud.consent.models import ProxyLink
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient
from imaging_cloud.identity.models import Person
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital, mint_token, register
from tests.sessions.conftest import bearer, dev_sign_in, events


@pytest.fixture
def elder_ref(client: TestClient, hospital_a: Hospital) -> str:
    return register(client, hospital_a, make_patient(random.Random(77)), "MRN-ELDER")


def link(runtime: Runtime, represented: str, proxy: str, **rights: bool) -> int:
    with runtime.units() as uow:
        ids = dict(uow.session.execute(select(Person.pseudonym, Person.id)).all())
        row = ProxyLink(person_id=ids[represented], proxy_person_id=ids[proxy], **rights)
        uow.session.add(row)
        uow.session.flush()
        return row.id


def test_an_active_link_gives_a_proxy_token_naming_both_persons(
    client: TestClient, runtime: Runtime, patient: SyntheticPatient, patient_ref: str, elder_ref: str
) -> None:
    link_id = link(runtime, elder_ref, patient_ref, can_view=False, can_issue_codes=True)
    signed_in = dev_sign_in(client, patient.health_card)
    response = client.post("/auth/act-for", json={"person_ref": elder_ref}, headers=bearer(signed_in["access_token"]))
    assert response.status_code == 200, response.text
    principal = Principal.from_claims(runtime.verifier.verify(response.json()["access_token"]))
    assert (principal.role, principal.person_ref, principal.acting_for) == (Role.PROXY, patient_ref, elder_ref)
    [event] = events(runtime, "act-for")
    assert (event.decision, event.basis, event.patient, event.details["proxy_link"]) == (
        "allow",
        "proxy",
        elder_ref,
        link_id,
    )
    # The proxy session belongs to the patient's sign-in: signing out ends both.
    assert client.post("/auth/sign-out", headers=bearer(signed_in["access_token"])).status_code == 204
    assert client.get("/dicomweb/studies", headers=bearer(response.json()["access_token"])).status_code == 401


def test_no_link_a_removed_link_or_a_link_without_rights_is_404(
    client: TestClient, runtime: Runtime, patient: SyntheticPatient, patient_ref: str, elder_ref: str
) -> None:
    token = dev_sign_in(client, patient.health_card)["access_token"]
    assert client.post("/auth/act-for", json={"person_ref": elder_ref}, headers=bearer(token)).status_code == 404
    link(runtime, elder_ref, patient_ref, can_view=False)
    assert client.post("/auth/act-for", json={"person_ref": elder_ref}, headers=bearer(token)).status_code == 404
    link(runtime, elder_ref, patient_ref)
    with runtime.units() as uow:
        uow.session.execute(update(ProxyLink).values(removed_at=dt.datetime.now(dt.UTC)))
    missing = client.post("/auth/act-for", json={"person_ref": elder_ref}, headers=bearer(token))
    assert missing.status_code == 404 and missing.json()["code"] == "proxy-link-not-found"
    assert client.post("/auth/act-for", json={"person_ref": patient_ref}, headers=bearer(token)).status_code == 404


def test_a_link_the_other_way_round_does_not_count(
    client: TestClient, runtime: Runtime, patient: SyntheticPatient, patient_ref: str, elder_ref: str
) -> None:
    link(runtime, patient_ref, elder_ref)  # the elder may act for the patient, not the reverse
    token = dev_sign_in(client, patient.health_card)["access_token"]
    assert client.post("/auth/act-for", json={"person_ref": elder_ref}, headers=bearer(token)).status_code == 404


def test_only_patients_act_for_someone(client: TestClient, runtime: Runtime, elder_ref: str) -> None:
    doctor = mint_token(runtime, Role.DOCTOR, "HOSP-A", subject="account:5")
    refused = client.post("/auth/act-for", json={"person_ref": elder_ref}, headers=bearer(doctor))
    assert refused.status_code == 403 and refused.json()["code"] == "patient-only"
