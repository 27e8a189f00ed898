"""The development EHC issuer: lists demo patients masked, signs them in through the EHC path, and exists only
in development mode."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from auth.tokens import SigningKey
from imaging_cloud.app import create_app
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.dev_ehc import mask_card, mask_name, mint_dev_id_token
from imaging_cloud.settings import Settings


def test_masks_keep_only_enough_to_tell_people_apart() -> None:
    assert mask_card("EHC1234567890123456") == "EHC1****3456"
    assert mask_card("12345") == "****"
    assert mask_name("张三丰") == "张**" and mask_name("李四") == "李**" and mask_name("") == "***"


def test_the_listing_shows_masked_demo_patients_and_no_pseudonym(
    client: TestClient, patient: SyntheticPatient, patient_ref: str
) -> None:
    listing = client.get("/dev-ehc/")
    assert listing.status_code == 200
    body = listing.json()
    assert "DEVELOPMENT" in body["notice"]
    [entry] = body["patients"]
    assert entry == {
        "name": mask_name(patient.name_zh),
        "card": mask_card(patient.health_card),
        "health_card": patient.health_card,
    }
    assert patient_ref not in listing.text and patient.name_zh not in listing.text
    browser = client.get("/dev-ehc/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert (browser.status_code, browser.headers["location"]) == (303, "/web/sign-in/ehc-demo")


def test_dev_sign_in_issues_a_patient_token_through_the_ehc_path(
    client: TestClient, runtime: Runtime, patient: SyntheticPatient, patient_ref: str
) -> None:
    response = client.post("/dev-ehc/sign-in", json={"health_card": patient.health_card})
    assert response.status_code == 200, response.text
    assert runtime.verifier.verify(response.json()["access_token"]).extra["person_ref"] == patient_ref
    exchanged = client.post("/auth/ehc", json={"id_token": mint_dev_id_token(runtime, patient.health_card)})
    assert exchanged.status_code == 200
    unknown = client.post("/dev-ehc/sign-in", json={"health_card": "EHC0000000000000000"})
    assert unknown.status_code == 401 and unknown.json()["code"] == "unknown-person"


def production_settings(settings: Settings, tmp_path: Path) -> Settings:
    key_path = tmp_path / "prod-signing.pem"
    key_path.write_bytes(SigningKey.generate().to_pem())
    key_path.chmod(0o600)
    return Settings(
        environment="production",
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        local_store_path=settings.local_store_path,
        pseudonym_key="p" * 32,
        uid_key="u" * 32,
        index_key="i" * 32,
        encryption_key="e" * 32,
        jwt_signing_key_path=key_path,
    )


def test_production_has_no_development_issuer(settings: Settings, runtime: Runtime, tmp_path: Path) -> None:
    dev_token = mint_dev_id_token(runtime, "EHC1234567890123456")
    production = Runtime.build(production_settings(settings, tmp_path))
    try:
        assert production.dev_ehc_key is None and production.ehc.issuers == frozenset()
        with TestClient(create_app(runtime=production)) as client:
            assert client.get("/dev-ehc/").status_code == 404
            assert client.post("/dev-ehc/sign-in", json={"health_card": "EHC1234567890123456"}).status_code == 404
            assert "/dev-ehc/" not in client.get("/openapi.json").json()["paths"]
            refused = client.post("/auth/ehc", json={"id_token": dev_token})
            assert refused.status_code == 401 and refused.json()["code"] == "token-invalid"
    finally:
        production.engine.dispose()
