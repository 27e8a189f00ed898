"""Audit fixtures: a stored study with a report (through the real routes), an auditor's token, event readers,
and raw SQL helpers that tamper with the trail the way someone with database access could."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from pydicom.dataset import Dataset
from sqlalchemy import Connection, select, text

from auth.principals import Role
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.audit.verify import ChainReport, verify_chain
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_study
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital, mint_token, register
from tests.stow_client import stow_body

TINY_CT = StudySpec("CT", "CHEST", "胸部CT平扫", instances=2, rows=32, columns=32)
PATIENT_ID = "MRN-AUDIT-7"
_INSTANCE_URL = re.compile(r"/studies/([0-9.]+)/series/([0-9.]+)/instances/([0-9.]+)$")


@dataclass(frozen=True)
class Stored:
    """A study of hospital A (two instances) with one text report, as the cloud knows them (de-identified)."""

    study_uid: str
    series_uid: str
    sop_uids: tuple[str, ...]
    report_uid: str
    pseudonym: str
    original_study_uid: str
    original_sop_uids: tuple[str, ...]

    @property
    def instance_path(self) -> str:
        return f"/dicomweb/studies/{self.study_uid}/series/{self.series_uid}/instances/{self.sop_uids[0]}"


def stow(client: TestClient, hospital: Hospital, datasets: list[Dataset], path: str = "/dicomweb/studies") -> Response:
    body, content_type = stow_body(datasets)
    response: Response = client.post(path, content=body, headers={**hospital.headers, "Content-Type": content_type})
    return response


@pytest.fixture
def stored(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> Stored:
    pseudonym = register(client, hospital_a, patient, PATIENT_ID)
    datasets = list(make_study(patient, TINY_CT, patient_id=PATIENT_ID, study_date=dt.date(2025, 3, 1), seed=7))
    response = stow(client, hospital_a, datasets)
    assert response.status_code == 200, response.text
    matches = [_INSTANCE_URL.search(item["00081190"]["Value"][0]) for item in response.json()["00081199"]["Value"]]
    found = [match.groups() for match in matches if match is not None]
    assert len(found) == len(datasets)
    report = client.post(
        "/reports",
        headers=hospital_a.headers,
        data={"study_instance_uid": str(datasets[0].StudyInstanceUID), "report_id": "R-1"},
        files={"file": ("report.txt", "检查所见: 未见异常。\n".encode(), "text/plain")},
    )
    assert report.status_code == 201, report.text
    return Stored(
        study_uid=found[0][0],
        series_uid=found[0][1],
        sop_uids=tuple(sop for _, _, sop in found),
        report_uid=report.json()["report_uid"],
        pseudonym=pseudonym,
        original_study_uid=str(datasets[0].StudyInstanceUID),
        original_sop_uids=tuple(str(ds.SOPInstanceUID) for ds in datasets),
    )


@pytest.fixture
def auditor_headers(runtime: Runtime) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(runtime, Role.AUDITOR, subject='account:auditor')}"}


def all_events(runtime: Runtime) -> list[AccessEvent]:
    """Every event, loaded and detached (closing the session keeps loaded attributes; a rollback would not)."""
    with runtime.sessions() as session:
        return list(session.scalars(select(AccessEvent).order_by(AccessEvent.seq)))


def last_seq(runtime: Runtime) -> int:
    events = all_events(runtime)
    return events[-1].seq if events else 0


def events_after(runtime: Runtime, seq: int) -> list[AccessEvent]:
    return [event for event in all_events(runtime) if event.seq > seq]


def without_append_only_triggers(connection: Connection) -> None:
    """What an attacker with the database owner's rights (or the SQLite file) does first."""
    if connection.dialect.name == "postgresql":
        for table in ("audit_events", "audit_checkpoints", "audit_chain_head"):
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        names = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all()
        for name in names:
            connection.execute(text(f'DROP TRIGGER "{name}"'))


def verify(runtime: Runtime) -> ChainReport:
    """Verify with the keys the service trusts (its own signing key)."""
    key = runtime.signing_key
    with runtime.sessions() as session:
        return verify_chain(session, {key.kid: key.public_jwk()})
