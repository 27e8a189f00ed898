"""Helpers for the session tests: staff accounts that sign in with a password, patients signed in through the
development EHC issuer, and a look at what the audit trail recorded."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from auth.principals import Role
from imaging_cloud.accounts.service import create_account
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital, register

DOCTOR = "doctor-a"
DOCTOR_SECRET = "doctor-a-secret-123"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def doctor(runtime: Runtime, hospital_a: Hospital) -> str:
    """A doctor account at hospital A that signs in with ``DOCTOR`` / ``DOCTOR_SECRET``."""
    with runtime.units() as uow:
        create_account(uow.session, DOCTOR, DOCTOR_SECRET, Role.DOCTOR, hospital_a.code, practitioner_id="P-100")
    return DOCTOR


def password_sign_in(client: TestClient, username: str = DOCTOR, secret: str = DOCTOR_SECRET) -> dict[str, Any]:
    response = client.post("/auth/token", data={"grant_type": "password", "username": username, "password": secret})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(client: TestClient, refresh_token: str) -> Any:
    return client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token})


@pytest.fixture
def patient_ref(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> str:
    """The fixture patient, registered (with their health card) at hospital A: their pseudonym."""
    return register(client, hospital_a, patient, "MRN-PATIENT")


def dev_sign_in(client: TestClient, health_card: str) -> dict[str, Any]:
    response = client.post("/dev-ehc/sign-in", json={"health_card": health_card})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def events(runtime: Runtime, action: str) -> list[AccessEvent]:
    with runtime.sessions() as session:
        return list(session.scalars(select(AccessEvent).where(AccessEvent.action == action).order_by(AccessEvent.seq)))
