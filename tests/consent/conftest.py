"""Consent fixtures: a patient with two studies at hospital A, a doctor and a desk clerk at hospital B (real accounts
signed in with passwords), a family member, and tokens for the patient and for a proxy acting for them."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from auth.principals import ACTING_FOR_CLAIM, PERSON_REF_CLAIM, Role
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient, national_id
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital, register
from tests.dicomweb.conftest import SMALL_CT, SMALL_MR, Uploaded, study_of, upload


@dataclass(frozen=True)
class Account:
    """A signed-in doctor or clerk: ``subject`` is ``account:<id>``."""

    username: str
    account_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def subject(self) -> str:
        return f"account:{self.account_id}"


def sign_in(client: TestClient, username: str, secret: str) -> str:
    response = client.post("/auth/token", data={"grant_type": "password", "username": username, "password": secret})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def add_account(
    client: TestClient, admin_token: str, username: str, role: Role, institution: str, display_name: str
) -> Account:
    secret = f"{username}-secret-1234"
    response = client.post(
        "/admin/accounts",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={
            "username": username,
            "secret": secret,
            "role": role.value,
            "institution": institution,
            "display_name": display_name,
        },
    )
    assert response.status_code == 201, response.text
    return Account(username, int(response.json()["id"]), sign_in(client, username, secret))


def person_headers(runtime: Runtime, pseudonym: str) -> dict[str, str]:
    """A patient token as the EHC sign-in issues it (subject ``person:<pseudonym>``)."""
    token = runtime.issuer.issue(
        subject=f"person:{pseudonym}",
        role=Role.PATIENT.value,
        ttl=dt.timedelta(minutes=10),
        extra={PERSON_REF_CLAIM: pseudonym},
    ).token
    return {"Authorization": f"Bearer {token}"}


def proxy_headers(runtime: Runtime, proxy_ref: str, acting_for: str) -> dict[str, str]:
    """A family member's token acting for ``acting_for``; whether the link stands is checked per request."""
    token = runtime.issuer.issue(
        subject=f"person:{proxy_ref}",
        role=Role.PROXY.value,
        ttl=dt.timedelta(minutes=10),
        extra={PERSON_REF_CLAIM: proxy_ref, ACTING_FOR_CLAIM: acting_for},
    ).token
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class World:
    """Hospital A's CT (2025-02-01) and MR (2025-06-01) of ``patient``; a doctor, a second doctor and a clerk at
    hospital B (whose own uploads are none of these, so only consent can open them); a family member."""

    hospital_a: Hospital
    hospital_b: Hospital
    patient: SyntheticPatient
    ref: str
    ct: Uploaded
    mr: Uploaded
    doctor: Account
    other_doctor: Account
    clerk: Account
    family: SyntheticPatient
    family_ref: str
    patient_headers: dict[str, str]
    family_headers: dict[str, str]

    def metadata(self, client: TestClient, headers: dict[str, str], study: Uploaded | None = None) -> int:
        """The status of reading a study's metadata (200 seen, 404 not visible, 403 visible only)."""
        uid = (study or self.ct).study_uid
        return client.get(f"/dicomweb/studies/{uid}/metadata", headers=headers).status_code


@pytest.fixture
def world(
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    hospital_b: Hospital,
    patient: SyntheticPatient,
    admin_token: str,
) -> World:
    ref = register(client, hospital_a, patient, "MRN-C1")
    ct = upload(client, hospital_a, study_of(patient, SMALL_CT, "MRN-C1", dt.date(2025, 2, 1), seed=1))
    mr = upload(client, hospital_a, study_of(patient, SMALL_MR, "MRN-C1", dt.date(2025, 6, 1), seed=2))
    family = make_patient(random.Random(77))
    family_ref = register(client, hospital_a, family, "MRN-C2")
    doctor = add_account(client, admin_token, "dr-wang", Role.DOCTOR, hospital_b.code, "王医生")
    other = add_account(client, admin_token, "dr-li", Role.DOCTOR, hospital_b.code, "李医生")
    clerk = add_account(client, admin_token, "desk-zhao", Role.SERVICE_DESK, hospital_b.code, "赵")
    return World(
        hospital_a=hospital_a,
        hospital_b=hospital_b,
        patient=patient,
        ref=ref,
        ct=ct,
        mr=mr,
        doctor=doctor,
        other_doctor=other,
        clerk=clerk,
        family=family,
        family_ref=family_ref,
        patient_headers=person_headers(runtime, ref),
        family_headers=person_headers(runtime, family_ref),
    )


def minor_national_id(years: int = 8, seed: int = 3) -> str:
    today = dt.date.today()
    return national_id(random.Random(seed), today.replace(year=today.year - years, day=1), "F")


def events(runtime: Runtime, action: str) -> list[AccessEvent]:
    with runtime.sessions() as session:
        return list(session.scalars(select(AccessEvent).where(AccessEvent.action == action).order_by(AccessEvent.seq)))


def grant_to(client: TestClient, world: World, headers: dict[str, str] | None = None, **body: Any) -> Any:
    payload = {"grantee": {"doctor": world.doctor.username}, "purpose": "second-opinion", **body}
    return client.post(f"/persons/{world.ref}/grants", headers=headers or world.patient_headers, json=payload)


def issue(client: TestClient, world: World, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return client.post(f"/persons/{world.ref}/codes", headers=headers or world.patient_headers, json=body)


def redeem(client: TestClient, account: Account, code: str) -> Any:
    return client.post("/doctor/codes/redeem", headers=account.headers, json={"code": code})
