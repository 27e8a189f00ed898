"""Doctor accounts carry a practitioner id given by the administrator; other roles do not."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from imaging_cloud.accounts.models import Account
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital
from tests.sessions.conftest import bearer, password_sign_in


def test_the_admin_creates_a_doctor_with_a_practitioner_id_who_then_signs_in(
    client: TestClient, runtime: Runtime, admin_token: str, hospital_a: Hospital
) -> None:
    body = {
        "username": "dr-wang",
        "secret": "dr-wang-secret-123",
        "role": "doctor",
        "institution": hospital_a.code,
        "practitioner_id": "110105-0042",
    }
    created = client.post("/admin/accounts", json=body, headers=bearer(admin_token))
    assert created.status_code == 201, created.text
    with runtime.sessions() as session:
        assert session.scalar(select(Account.practitioner_id).where(Account.username == "dr-wang")) == "110105-0042"
    signed_in = password_sign_in(client, "dr-wang", "dr-wang-secret-123")
    claims = runtime.verifier.verify(signed_in["access_token"])
    assert (claims.role, claims.institution) == ("doctor", hospital_a.code) and signed_in["refresh_token"]


def test_a_practitioner_id_is_refused_for_other_roles_and_bad_formats(
    client: TestClient, admin_token: str, hospital_a: Hospital
) -> None:
    base = {"username": "desk-1", "secret": "desk-1-secret-1234", "institution": hospital_a.code}
    refused = client.post(
        "/admin/accounts", json={**base, "role": "service-desk", "practitioner_id": "P-1"}, headers=bearer(admin_token)
    )
    assert refused.status_code == 422 and refused.json()["code"] == "practitioner-id-not-allowed"
    malformed = client.post(
        "/admin/accounts", json={**base, "role": "doctor", "practitioner_id": "P 1;"}, headers=bearer(admin_token)
    )
    assert malformed.status_code == 422
