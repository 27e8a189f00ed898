"""Patient sign-in with the EHC identity: a trusted issuer's ID token, checked like any token, mapped to a person
by health card or national ID hash; everything else is a 401 that leaks nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from auth.tokens import SigningKey, TokenIssuer, jwks
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings
from tests.auth.forge import forge
from tests.sessions.conftest import bearer, events

EHC_ISSUER = "https://ehc.example.gov.cn/oidc"
EHC_AUDIENCE = "imaging-cloud-client"
EHC_KEY = SigningKey.generate("RS256")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The test settings plus a trusted EHC platform whose JWKS is a file."""
    path = tmp_path / "ehc-jwks.json"
    path.write_text(json.dumps(jwks([EHC_KEY])), encoding="utf-8")
    return settings.model_copy(update={"ehc_issuer": EHC_ISSUER, "ehc_jwks_path": path, "ehc_audience": EHC_AUDIENCE})


def id_token(key: SigningKey = EHC_KEY, issuer: str = EHC_ISSUER, audience: str = EHC_AUDIENCE, **claims: Any) -> str:
    ttl = claims.pop("ttl", dt.timedelta(minutes=5))
    now = claims.pop("now", None)
    return (
        TokenIssuer(key, issuer, audience).issue(subject="ehc-user-1", role=None, ttl=ttl, now=now, extra=claims).token
    )


def ehc_sign_in(client: TestClient, token: str) -> Any:
    return client.post("/auth/ehc", json={"id_token": token})


def test_a_trusted_id_token_naming_the_card_signs_the_patient_in(
    client: TestClient, runtime: Runtime, patient: SyntheticPatient, patient_ref: str
) -> None:
    response = ehc_sign_in(client, id_token(ehc_card_number=patient.health_card))
    assert response.status_code == 200, response.text
    body = response.json()
    claims = runtime.verifier.verify(body["access_token"])
    assert (claims.subject, claims.role, claims.extra["person_ref"]) == (
        f"person:{patient_ref}",
        "patient",
        patient_ref,
    )
    assert body["refresh_token"]
    [event] = [e for e in events(runtime, "sign-in") if e.actor == f"person:{patient_ref}"]
    assert (event.decision, event.basis, event.patient, event.target_id) == (
        "allow",
        "ehc-identity",
        patient_ref,
        patient_ref,
    )
    assert event.token_id == claims.jti


def test_an_id_token_without_role_or_jti_naming_the_national_id_signs_in(
    client: TestClient, patient: SyntheticPatient, patient_ref: str, runtime: Runtime
) -> None:
    at = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {"iss": EHC_ISSUER, "aud": EHC_AUDIENCE, "sub": "u", "iat": at, "exp": at + 300}
    token = forge(EHC_KEY, {"alg": "RS256", "kid": EHC_KEY.kid}, {**claims, "national_id": patient.national_id})
    response = ehc_sign_in(client, token)
    assert response.status_code == 200, response.text
    assert runtime.verifier.verify(response.json()["access_token"]).extra["person_ref"] == patient_ref


def test_an_unknown_person_is_refused_and_recorded_without_identifiers(
    client: TestClient, runtime: Runtime, patient: SyntheticPatient
) -> None:
    response = ehc_sign_in(client, id_token(ehc_card_number=patient.health_card, national_id=patient.national_id))
    assert response.status_code == 401
    assert response.json() == {"code": "unknown-person", "message": "this health card identity is not known here"}
    [event] = events(runtime, "sign-in")
    assert (event.decision, event.outcome, event.actor) == ("deny", "unknown-person", "anonymous")
    recorded = json.dumps([event.details, event.reason, event.target_id, event.patient], ensure_ascii=False)
    assert patient.health_card not in recorded and patient.national_id not in recorded


@pytest.mark.parametrize(
    "make",
    [
        lambda card: id_token(audience="someone-else", ehc_card_number=card),
        lambda card: id_token(issuer="https://evil.example", ehc_card_number=card),
        lambda card: id_token(key=SigningKey.generate(), ehc_card_number=card),
        lambda card: id_token(now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), ehc_card_number=card),
    ],
    ids=["wrong-audience", "untrusted-issuer", "unknown-key", "expired"],
)
def test_a_bad_id_token_is_a_generic_401(
    client: TestClient, runtime: Runtime, patient: SyntheticPatient, patient_ref: str, make: Any
) -> None:
    response = ehc_sign_in(client, make(patient.health_card))
    assert response.status_code == 401
    assert response.json() == {"code": "token-invalid", "message": "the token is not valid"}
    assert events(runtime, "sign-in")[-1].details["token_failure"]


def test_our_own_access_token_is_not_an_ehc_identity(client: TestClient, runtime: Runtime, patient_ref: str) -> None:
    ours = runtime.issuer.issue(
        subject=f"person:{patient_ref}", role="patient", ttl=dt.timedelta(minutes=5), extra={"person_ref": patient_ref}
    ).token
    assert ehc_sign_in(client, ours).status_code == 401
    assert client.get("/dicomweb/studies", headers=bearer(id_token(ehc_card_number="x"))).status_code == 401
