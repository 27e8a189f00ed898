"""Refresh tokens: issued to people signing in (not to system clients), single use, rotated within a family,
and a reused one ends the whole sign-in, access tokens included."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from auth.principals import Role
from imaging_cloud.accounts.models import Account
from imaging_cloud.accounts.service import create_account
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.models import RefreshToken
from imaging_cloud.sessions.refresh import refresh_token_hash
from tests.conftest import Hospital
from tests.sessions.conftest import bearer, events, password_sign_in, refresh

PROTECTED = "/dicomweb/studies"


def test_password_sign_in_returns_a_refresh_token_stored_only_as_a_keyed_hash(
    client: TestClient, runtime: Runtime, doctor: str
) -> None:
    body = password_sign_in(client)
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["refresh_expires_in"] == runtime.settings.refresh_token_seconds
    with runtime.sessions() as session:
        [row] = session.scalars(select(RefreshToken)).all()
    assert row.token_hash == refresh_token_hash(runtime.keys, body["refresh_token"])
    assert body["refresh_token"] not in row.token_hash
    assert row.access_jti == runtime.verifier.verify(body["access_token"]).jti


def test_client_credentials_get_no_refresh_token(client: TestClient, runtime: Runtime, hospital_a: Hospital) -> None:
    with runtime.units() as uow:
        create_account(uow.session, "pacs-a", "pacs-a-secret-1234", Role.HOSPITAL, hospital_a.code)
    response = client.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": "pacs-a", "client_secret": "pacs-a-secret-1234"},
    )
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "token_type", "expires_in"}


def test_refresh_rotates_within_the_family_and_spends_the_old_token(
    client: TestClient, runtime: Runtime, doctor: str
) -> None:
    first = password_sign_in(client)
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    claims = runtime.verifier.verify(rotated["access_token"])
    assert (claims.subject, claims.role, claims.institution) == (
        runtime.verifier.verify(first["access_token"]).subject,
        "doctor",
        "HOSP-A",
    )
    with runtime.sessions() as session:
        rows = session.scalars(select(RefreshToken).order_by(RefreshToken.id)).all()
    assert len({row.family_id for row in rows}) == 1
    assert rows[0].used_at is not None and rows[1].used_at is None
    assert client.get(PROTECTED, headers=bearer(rotated["access_token"])).status_code != 401
    [event] = events(runtime, "refresh")
    assert (event.decision, event.basis, event.token_id) == ("allow", "refresh-token", claims.jti)


def test_reusing_a_spent_refresh_token_revokes_the_family_and_its_access_tokens(
    client: TestClient, runtime: Runtime, doctor: str
) -> None:
    first = password_sign_in(client)
    second = refresh(client, first["refresh_token"]).json()
    reuse = refresh(client, first["refresh_token"])  # the copy an attacker kept
    assert reuse.status_code == 401
    assert reuse.json() == {"code": "invalid-refresh-token", "message": "the token is not valid"}
    for token in (first["access_token"], second["access_token"]):
        refused = client.get(PROTECTED, headers=bearer(token))
        assert refused.status_code == 401 and refused.json()["code"] == "token-revoked"
    assert refresh(client, second["refresh_token"]).status_code == 401  # the legitimate successor died too
    denied = events(runtime, "refresh")[1]
    assert (denied.decision, denied.status) == ("deny", 401)
    assert denied.details == {"token_failure": "refresh-token-reused", "family_revoked": True}


def test_unknown_and_expired_refresh_tokens_are_refused(client: TestClient, runtime: Runtime, doctor: str) -> None:
    assert refresh(client, "not-a-token").status_code == 401
    body = password_sign_in(client)
    with runtime.units() as uow:
        uow.session.execute(update(RefreshToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    assert refresh(client, body["refresh_token"]).status_code == 401


def test_a_deactivated_account_cannot_refresh(client: TestClient, runtime: Runtime, doctor: str) -> None:
    body = password_sign_in(client)
    with runtime.units() as uow:
        uow.session.execute(update(Account).where(Account.username == doctor).values(active=False))
    assert refresh(client, body["refresh_token"]).status_code == 401
    assert client.get(PROTECTED, headers=bearer(body["access_token"])).status_code == 401
