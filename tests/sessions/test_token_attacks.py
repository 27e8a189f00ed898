"""Token attacks against a real protected route: every forged, stale, foreign or revoked token is a 401 whose
body says nothing about which check failed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from auth.tokens import SigningKey
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_study
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.revocation import revoke_access_tokens
from tests.auth.forge import b64url, b64url_json, forge, hs256_with_public_pem, split
from tests.conftest import Hospital
from tests.sessions.conftest import bearer, dev_sign_in, password_sign_in, refresh
from tests.stow_client import stow_body

PROTECTED = "/dicomweb/studies"
GENERIC = "the token is not valid"
FAILURE_DETAILS = ("alg", "kid", "signature", "issuer", "audience", "expired", "revoked", "none", "HS256")


def claims(runtime: Runtime, *, shift: int = 0, **overrides: object) -> dict[str, object]:
    """Honest hospital-A claims, valid from ``shift`` seconds from now."""
    at = int(dt.datetime.now(dt.UTC).timestamp()) + shift
    honest: dict[str, object] = {
        "iss": runtime.settings.jwt_issuer,
        "aud": runtime.settings.jwt_audience,
        "sub": "client:HOSP-A",
        "role": "hospital",
        "institution": "HOSP-A",
        "iat": at,
        "nbf": at,
        "exp": at + 300,
        "jti": f"attack-{at}",
    }
    honest.update(overrides)
    return honest


def header(key: SigningKey, **overrides: object) -> dict[str, object]:
    return {"alg": key.alg, "kid": key.kid, **overrides}


def assert_refused_without_detail(client: TestClient, token: str) -> None:
    response = client.get(PROTECTED, headers=bearer(token))
    assert response.status_code == 401, response.text
    body = response.json()
    assert set(body) == {"code", "message"} and body["message"] == GENERIC
    assert body["code"] in {"token-invalid", "token-expired", "token-not-yet-valid", "token-revoked"}
    assert not any(word.lower() in body["message"].lower() for word in FAILURE_DETAILS)


def test_the_forger_makes_tokens_the_route_accepts(client: TestClient, runtime: Runtime, hospital_a: Hospital) -> None:
    honest = forge(runtime.signing_key, header(runtime.signing_key), claims(runtime))
    assert client.get(PROTECTED, headers=bearer(honest)).status_code == 200


def _alg_none(runtime: Runtime) -> str:
    unsigned = f"{b64url_json({'alg': 'none', 'kid': runtime.signing_key.kid})}.{b64url_json(claims(runtime))}"
    return unsigned + "." + b64url(b"x")


def _hs256_with_public_key(runtime: Runtime) -> str:
    return hs256_with_public_pem(runtime.signing_key, header(runtime.signing_key, alg="HS256"), claims(runtime))


def _unknown_kid(runtime: Runtime) -> str:
    stranger = SigningKey.generate()
    return forge(stranger, header(stranger), claims(runtime))


def _our_kid_on_a_foreign_signature(runtime: Runtime) -> str:
    return forge(SigningKey.generate(), header(runtime.signing_key), claims(runtime))


def _tampered_payload(runtime: Runtime) -> str:
    token = forge(runtime.signing_key, header(runtime.signing_key), claims(runtime))
    head, _claims, signature = token.split(".")
    _, honest, _ = split(token)
    return f"{head}.{b64url_json({**honest, 'role': 'admin', 'institution': None})}.{signature}"


def _signed(**overrides: object) -> Callable[[Runtime], str]:
    def make(runtime: Runtime) -> str:
        changed = dict(overrides)
        shift = int(str(changed.pop("shift", 0)))
        return forge(runtime.signing_key, header(runtime.signing_key), claims(runtime, shift=shift, **changed))

    return make


ATTACKS: dict[str, Callable[[Runtime], str]] = {
    "alg-none": _alg_none,
    "hs256-signed-with-the-public-key": _hs256_with_public_key,
    "unknown-kid": _unknown_kid,
    "our-kid-foreign-signature": _our_kid_on_a_foreign_signature,
    "tampered-payload": _tampered_payload,
    "expired": _signed(shift=-3600),
    "not-yet-valid": _signed(shift=3600),
    "wrong-issuer": _signed(iss="https://another-cloud.example"),
    "wrong-audience": _signed(aud="another-service"),
    "unknown-role": _signed(role="superuser"),
    "institution-role-without-institution": _signed(institution=None),
}


@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_a_forged_or_stale_token_is_a_401_without_detail(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, attack: str
) -> None:
    assert_refused_without_detail(client, ATTACKS[attack](runtime))


def test_a_revoked_jti_is_refused(client: TestClient, runtime: Runtime, hospital_a: Hospital) -> None:
    token = forge(runtime.signing_key, header(runtime.signing_key), claims(runtime, jti="to-revoke"))
    assert client.get(PROTECTED, headers=bearer(token)).status_code == 200
    with runtime.units() as uow:
        revoke_access_tokens(uow.session, ["to-revoke"], until=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    assert_refused_without_detail(client, token)


def test_a_patient_token_replayed_after_sign_out_is_refused(
    client: TestClient, patient: SyntheticPatient, patient_ref: str
) -> None:
    token = dev_sign_in(client, patient.health_card)["access_token"]
    assert client.get(PROTECTED, headers=bearer(token)).status_code != 401
    assert client.post("/auth/sign-out", headers=bearer(token)).status_code == 204
    assert_refused_without_detail(client, token)


def test_refresh_token_reuse_is_refused_and_ends_the_sign_in(client: TestClient, doctor: str) -> None:
    first = password_sign_in(client)
    successor = refresh(client, first["refresh_token"]).json()
    reused = refresh(client, first["refresh_token"])
    assert reused.status_code == 401 and set(reused.json()) == {"code", "message"}
    assert reused.json()["message"] == GENERIC
    assert_refused_without_detail(client, successor["access_token"])
    assert_refused_without_detail(client, first["access_token"])


def test_a_token_bound_to_an_institution_this_cloud_does_not_know_uploads_nothing(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    """A validly signed token for an institution that is not (or no longer) registered here is not a hospital."""
    token = forge(
        runtime.signing_key,
        header(runtime.signing_key),
        claims(runtime, sub="client:HOSP-X", institution="HOSP-X"),
    )
    body, content_type = stow_body(make_study(patient, StudySpec("CT", "CHEST", "CT", 1, 16, 16), patient_id="X-1"))
    response = client.post("/dicomweb/studies", content=body, headers={**bearer(token), "Content-Type": content_type})
    assert (response.status_code, response.json()["code"]) == (401, "token-invalid")
    assert client.get(PROTECTED, headers=bearer(token)).json() == []  # and it sees nothing of hospital A's
