"""``imaging-cloud demo``: seeds through the real STOW-RS route, twice without duplicates, and prints accounts."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth.principals import Role
from imaging_cloud.accounts.models import Account
from imaging_cloud.app import create_app
from imaging_cloud.db.base import create_db_engine
from imaging_cloud.demo.accounts import ACCOUNTS_FILE, DemoAccount
from imaging_cloud.demo.banner import render_demo
from imaging_cloud.demo.seed import DemoRefused, DemoScale, seed_demo
from imaging_cloud.identity.models import Institution, PatientXref, Person
from imaging_cloud.reports.models import Report
from imaging_cloud.settings import Settings
from imaging_cloud.studies.models import Instance, Series, Study

TINY = DemoScale(rows=64, ct_slices=2, mr_slices=2, us_frames=3)
#: CT for every patient; then MR, CR, US, MR, CR for patients 1..5 (US is one multi-frame instance); a repeat CT
#: (the duplicate exam) for patients 1 and 4.
TINY_REPEATS = 2
TINY_STUDIES = 10 + TINY_REPEATS
TINY_INSTANCES = (5 + TINY_REPEATS) * TINY.ct_slices + 2 * TINY.mr_slices + 2 + 1


def _counts(settings: Settings) -> dict[str, int]:
    engine = create_db_engine(settings.effective_database_url)
    models = (Institution, Account, Person, PatientXref, Study, Series, Instance, Report)
    with Session(engine) as session:
        counts = {model.__name__: session.scalar(select(func.count()).select_from(model)) or 0 for model in models}
    engine.dispose()
    return counts


def _sign_in(client: TestClient, account: DemoAccount) -> str:
    if account.role == Role.HOSPITAL:
        form = {"grant_type": "client_credentials", "client_id": account.username, "client_secret": account.password}
    else:
        form = {"grant_type": "password", "username": account.username, "password": account.password}
    response = client.post("/auth/token", data=form)
    assert response.status_code == 200, account.username
    return str(response.json()["access_token"])


@pytest.fixture
def demo_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "demo", database_url=database_url)


def test_demo_seeds_through_stow_and_every_account_signs_in(demo_settings: Settings) -> None:
    seeded = seed_demo(demo_settings, scale=TINY)

    assert _counts(demo_settings) == {
        "Institution": 3,
        "Account": len(seeded.accounts),
        "Person": 5,
        "PatientXref": 10,
        "Study": TINY_STUDIES,
        "Series": TINY_STUDIES,
        "Instance": TINY_INSTANCES,
        "Report": TINY_STUDIES,
    }
    assert (seeded.instances_stored, seeded.reports_created) == (TINY_INSTANCES, TINY_STUDIES)
    assert {i.name for i in seeded.institutions} == {"山西省人民医院示例", "太原市中心医院示例", "大同市第三医院示例"}
    assert {a.role for a in seeded.accounts} == {
        r.value for r in (Role.ADMIN, Role.AUDITOR, Role.HOSPITAL, Role.DOCTOR, Role.SERVICE_DESK)
    }
    path = demo_settings.data_dir / ACCOUNTS_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(json.loads(path.read_text(encoding="utf-8"))["accounts"]) == len(seeded.accounts)

    planned = Counter(s.institution.code for s in seeded.studies)
    local_ids = {s.patient_id for s in seeded.studies}
    with TestClient(create_app(demo_settings)) as client:
        tokens = {account.username: _sign_in(client, account) for account in seeded.accounts}
        for account in (a for a in seeded.accounts if a.role == Role.HOSPITAL):
            found = client.get(
                "/dicomweb/studies",
                headers={"Authorization": f"Bearer {tokens[account.username]}", "Accept": "application/dicom+json"},
            )
            assert found.status_code == 200, found.text
            studies = found.json()
            assert len(studies) == planned[account.institution]  # a hospital reads back what it uploaded
            patient_ids = {study["00100020"]["Value"][0] for study in studies}
            assert not patient_ids & local_ids  # pseudonyms only, never the hospital's local id


def test_seeding_twice_duplicates_nothing(demo_settings: Settings) -> None:
    first = seed_demo(demo_settings, scale=TINY)
    before = _counts(demo_settings)

    again = seed_demo(demo_settings, scale=TINY)

    assert _counts(demo_settings) == before
    assert (again.instances_stored, again.instances_already_present) == (0, TINY_INSTANCES)
    assert (again.reports_created, again.reports_present) == (0, TINY_STUDIES)
    assert again.accounts == first.accounts


SMALL = DemoScale(rows=32, ct_slices=1, mr_slices=1, us_frames=1, patients=2)


def test_the_listing_shows_accounts_and_url_but_no_patient_identifiers(tmp_path: Path) -> None:
    seeded = seed_demo(Settings(data_dir=tmp_path / "demo"), scale=SMALL)
    buffer = io.StringIO()
    render_demo(seeded, Console(file=buffer, width=200), "http://127.0.0.1:8000")
    out = buffer.getvalue()

    assert "http://127.0.0.1:8000" in out
    for account in seeded.accounts:
        assert account.username in out and account.password in out and account.role in out
    for patient in seeded.patients:
        assert patient.national_id not in out and patient.health_card not in out and patient.name_zh not in out


def test_a_lost_accounts_file_gets_new_passwords_that_work(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "demo")
    first = seed_demo(settings, scale=SMALL)
    (settings.data_dir / ACCOUNTS_FILE).unlink()

    renewed = seed_demo(settings, scale=SMALL)

    admin = next(a for a in renewed.accounts if a.role == Role.ADMIN)
    assert admin.password != next(a for a in first.accounts if a.role == Role.ADMIN).password
    assert renewed.instances_stored == 0
    with TestClient(create_app(settings)) as client:
        _sign_in(client, admin)


def test_the_demo_refuses_production_mode(tmp_path: Path) -> None:
    settings = Settings(
        environment="production",
        data_dir=tmp_path,
        pseudonym_key="p" * 32,
        uid_key="u" * 32,
        index_key="i" * 32,
        encryption_key="e" * 32,
        jwt_signing_key_path=tmp_path / "k.pem",
    )
    with pytest.raises(DemoRefused):
        seed_demo(settings, scale=TINY)


def test_the_demo_grant_shows_a_doctor_priors_from_other_hospitals_and_the_family_link_works(
    demo_settings: Settings,
) -> None:
    seeded = seed_demo(demo_settings, scale=TINY)
    again = seed_demo(demo_settings, scale=TINY)
    assert len(seeded.consent) == 2 and again.consent == seeded.consent
    doctor = next(a for a in seeded.accounts if a.username == "dtth-doctor")
    elder, family = seeded.patients[0], seeded.patients[1]
    elder_studies = [s for s in seeded.studies if s.patient_index == 0]
    assert "DTTH" not in {s.institution.code for s in elder_studies}
    with TestClient(create_app(demo_settings)) as client:
        signed_in = client.post("/dev-ehc/sign-in", json={"health_card": elder.health_card}).json()["access_token"]
        me = {"Authorization": f"Bearer {signed_in}"}
        grants = client.get(f"/persons/{_person_ref(signed_in)}/grants", headers=me).json()
        assert [g["state"] for g in grants] == ["active"]  # seeding twice made one grant
        doctor_headers = {"Authorization": f"Bearer {_sign_in(client, doctor)}"}
        timeline = client.get(f"/persons/{_person_ref(signed_in)}/studies", headers=doctor_headers)
        assert timeline.status_code == 200
        studies = timeline.json()["studies"]
        assert len(studies) == len(elder_studies)
        assert {s["institution_code"] for s in studies} == {s.institution.code for s in elder_studies}
        assert any(s["recent_similar"] for s in studies)  # patient 1 has the repeat chest CT
        relative = client.post("/dev-ehc/sign-in", json={"health_card": family.health_card}).json()["access_token"]
        acting = client.post(
            "/auth/act-for",
            headers={"Authorization": f"Bearer {relative}"},
            json={"person_ref": _person_ref(signed_in)},
        )
        assert acting.status_code == 200, acting.text


def _person_ref(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["person_ref"])
