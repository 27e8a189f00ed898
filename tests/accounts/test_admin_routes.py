"""Only administrators create institutions and accounts; every other role is refused with 403, nothing created."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from auth.principals import Role
from imaging_cloud.accounts.models import Account
from imaging_cloud.identity.models import Institution
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital, mint_token

_TTL = dt.timedelta(minutes=5)


def _counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Institution)) or 0,
            session.scalar(select(func.count()).select_from(Account)) or 0,
        )


def test_only_administrators_create_institutions_and_accounts(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, admin_token: str
) -> None:
    person = {"person_ref": "p-1"}
    others = {
        Role.HOSPITAL: hospital_a.token,
        Role.DOCTOR: mint_token(runtime, Role.DOCTOR, hospital_a.code, subject="account:7"),
        Role.SERVICE_DESK: mint_token(runtime, Role.SERVICE_DESK, hospital_a.code, subject="account:8"),
        Role.AUDITOR: mint_token(runtime, Role.AUDITOR, subject="account:9"),
        Role.PATIENT: runtime.issuer.issue(subject="person:p-1", role="patient", ttl=_TTL, extra=person).token,
        Role.PROXY: runtime.issuer.issue(
            subject="person:p-1", role="proxy", ttl=_TTL, extra={**person, "acting_for": "p-2"}
        ).token,
    }
    institution = {"code": "HOSP-N", "name": "新医院"}
    account = {"username": "new-admin", "secret": "a-long-enough-secret", "role": "admin"}
    before = _counts(runtime)
    for role, token in others.items():
        headers = {"Authorization": f"Bearer {token}"}
        for path, body in (("/admin/institutions", institution), ("/admin/accounts", account)):
            response = client.post(path, headers=headers, json=body)
            assert (response.status_code, response.json()["code"]) == (403, "action-not-allowed"), (role, path)
    assert _counts(runtime) == before
    admin = {"Authorization": f"Bearer {admin_token}"}
    assert client.post("/admin/institutions", headers=admin, json=institution).status_code == 201
    assert client.post("/admin/accounts", headers=admin, json=account).status_code == 201
