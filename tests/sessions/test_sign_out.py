"""Sign-out and revocation by ``jti``: a revoked token is refused by every route, from the database."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from auth.principals import Role
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.revocation import is_revoked, purge_expired, revoke_access_tokens
from tests.conftest import mint_token
from tests.sessions.conftest import bearer, events, password_sign_in, refresh

PROTECTED = "/dicomweb/studies"


def test_sign_out_revokes_the_access_token_and_its_refresh_family(
    client: TestClient, runtime: Runtime, doctor: str
) -> None:
    body = password_sign_in(client)
    headers = bearer(body["access_token"])
    assert client.get(PROTECTED, headers=headers).status_code != 401
    assert client.post("/auth/sign-out", headers=headers).status_code == 204
    refused = client.get(PROTECTED, headers=headers)
    assert refused.status_code == 401
    assert refused.json() == {"code": "token-revoked", "message": "the token is not valid"}
    assert refresh(client, body["refresh_token"]).status_code == 401
    [signed_out] = events(runtime, "sign-out")
    assert (signed_out.decision, signed_out.status, signed_out.basis) == ("allow", 204, "own-session")
    assert signed_out.details == {"refresh_family_revoked": True}
    denial = [e for e in events(runtime, "search") if e.status == 401][-1]
    assert denial.outcome == "token-revoked" and denial.details == {"token_failure": "revoked"}


def test_a_system_token_without_refresh_family_can_sign_out(client: TestClient, runtime: Runtime) -> None:
    headers = bearer(mint_token(runtime, Role.AUDITOR, subject="account:9"))
    assert client.post("/auth/sign-out", headers=headers).status_code == 204
    assert client.post("/auth/sign-out", headers=headers).status_code == 401


def test_revocations_are_kept_until_the_token_would_have_expired(runtime: Runtime) -> None:
    now = dt.datetime.now(dt.UTC)
    with runtime.units() as uow:
        revoke_access_tokens(uow.session, ["old"], until=now - dt.timedelta(seconds=1))
        revoke_access_tokens(uow.session, ["live", "old"], until=now + dt.timedelta(minutes=5))  # idempotent
    with runtime.units() as uow:
        assert is_revoked(uow.session, "old") and is_revoked(uow.session, "live")
        assert not is_revoked(uow.session, "other")
        assert purge_expired(uow.session, now=now) == 1
    with runtime.units() as uow:
        assert not is_revoked(uow.session, "old") and is_revoked(uow.session, "live")
