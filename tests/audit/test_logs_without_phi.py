"""Logs are not the audit trail: a demo run (seed, then patients, doctors and consents through the API) logged at
DEBUG by every logger never mentions a demo person's name, national ID, health card, phone or local patient id."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from auth.principals import Role
from imaging_cloud.app import create_app
from imaging_cloud.demo.seed import DemoScale, SeedResult, seed_demo
from imaging_cloud.settings import Settings

TINY = DemoScale(rows=32, ct_slices=1, mr_slices=1, us_frames=1, patients=3)


class _Everything(logging.Handler):
    """Keeps every record's full text: message with its arguments, the raw arguments, exception and stack."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.name, record.getMessage(), repr(record.args), str(record.msg)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(record.stack_info)
        self.texts.append("\n".join(parts))


@pytest.fixture
def every_log() -> Iterator[_Everything]:
    """Every logger at DEBUG, propagating to one handler on the root (levels restored afterwards)."""
    handler = _Everything()
    root = logging.getLogger()
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    saved = [(logger, logger.level, logger.propagate, logger.disabled) for logger in loggers]
    root_level = root.level
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
        logger.disabled = False
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for logger, level, propagate, disabled in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            logger.disabled = disabled


def _identifiers(seeded: SeedResult) -> set[str]:
    found: set[str] = set()
    for person in seeded.patients:
        family, _, given = person.name_pinyin.partition("^")
        found |= {
            person.national_id,
            person.health_card,
            person.phone,
            person.name_zh,
            person.name_zh.replace(" ", ""),
            person.name_pinyin,
            f"{family} {given}".strip(),
            person.dicom_name,
        }
    found |= {study.patient_id for study in seeded.studies}
    return {value for value in found if value}


def _claims(token: str) -> dict[str, str]:
    payload = token.split(".")[1]
    decoded: dict[str, str] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _use_the_service(settings: Settings, seeded: SeedResult) -> None:
    """A patient, a doctor and an auditor at work: sign-ins, studies, a grant, break-glass, searches, mistakes."""
    [first, second, *_] = seeded.patients
    by_role = {account.role: account for account in seeded.accounts}
    with TestClient(create_app(settings)) as client:

        def sign_in(role: Role) -> str:
            account = by_role[role.value]
            form = {"grant_type": "password", "username": account.username, "password": account.password}
            response = client.post("/auth/token", data=form)
            assert response.status_code == 200, response.text
            return str(response.json()["access_token"])

        signed = client.post("/dev-ehc/sign-in", json={"health_card": first.health_card})
        assert signed.status_code == 200, signed.text
        patient_token = signed.json()["access_token"]
        ref = _claims(patient_token)["person_ref"]
        patient = _bearer(patient_token)
        assert client.get(f"/persons/{ref}/studies", headers=patient).status_code == 200
        assert client.get(f"/persons/{ref}/access-log", headers=patient).status_code == 200
        doctor_account = by_role[Role.DOCTOR.value]
        grant = {"grantee": {"doctor": doctor_account.username}, "purpose": "treatment", "days": 7}
        assert client.post(f"/persons/{ref}/grants", json=grant, headers=patient).status_code == 201
        doctor = _bearer(sign_in(Role.DOCTOR))
        assert client.get("/doctor/patients", headers=doctor).status_code == 200
        glass = {
            "national_id": second.national_id,
            "purpose": "emergency-treatment",
            "reason": f"{second.name_zh} 急诊抢救，昏迷，需调阅既往影像",
        }
        assert client.post("/doctor/break-glass", json=glass, headers=doctor).status_code == 201
        client.post("/doctor/break-glass", json={**glass, "national_id": first.national_id[:-1] + "X"}, headers=doctor)
        client.get(f"/persons/{ref}/studies", headers=doctor)
        auditor = _bearer(sign_in(Role.AUDITOR))
        found = client.post("/audit/events/search", json={"health_card": second.health_card}, headers=auditor)
        assert found.status_code == 200
        client.post("/audit/events/search", json={"national_id": second.phone}, headers=auditor)  # malformed: 422
        client.post("/dev-ehc/sign-in", json={"health_card": second.phone})  # unknown card
        client.post("/auth/token", data={"grant_type": "password", "username": first.name_zh, "password": "x" * 12})
        client.get("/audit/flags", headers=auditor)


def test_a_demo_run_logged_at_debug_names_no_demo_person(tmp_path: Path, every_log: _Everything) -> None:
    settings = Settings(data_dir=tmp_path / "demo")
    seeded = seed_demo(settings, scale=TINY)
    _use_the_service(settings, seeded)

    assert len(every_log.texts) > 10  # the capture works (requests, ingest, sign-ins were logged)
    identifiers = _identifiers(seeded)
    leaks = sorted({(value, text[:160]) for text in every_log.texts for value in identifiers if value in text})
    assert leaks == []
