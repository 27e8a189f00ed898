"""No event, no access: when the trail cannot be written, requests answer 503 and serve nothing."""

from __future__ import annotations

import random

from fastapi.testclient import TestClient
from sqlalchemy import text

from imaging_cloud.demo.synthetic import make_patient
from imaging_cloud.runtime import Runtime
from tests.audit.conftest import Stored, without_append_only_triggers
from tests.conftest import Hospital


def break_the_trail(runtime: Runtime) -> None:
    """Remove the chain head: every append then fails, as with a full disk or a revoked grant on the table."""
    with runtime.engine.begin() as connection:
        without_append_only_triggers(connection)
        connection.execute(text("DELETE FROM audit_chain_head"))


def test_nothing_is_served_when_the_access_cannot_be_recorded(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, stored: Stored
) -> None:
    break_the_trail(runtime)
    for path in (
        stored.instance_path,
        f"{stored.instance_path}/frames/1",
        f"{stored.instance_path}/rendered",
        f"/dicomweb/studies/{stored.study_uid}/metadata",
        "/dicomweb/studies",
        f"/reports/{stored.report_uid}",
    ):
        response = client.get(path, headers=hospital_a.headers)
        assert response.status_code == 503, path
        assert response.json()["code"] == "audit-unavailable"
        assert b"DICM" not in response.content and "0020000D" not in response.text


def test_denials_that_cannot_be_recorded_answer_503(client: TestClient, runtime: Runtime, stored: Stored) -> None:
    break_the_trail(runtime)
    response = client.get(stored.instance_path)
    assert response.status_code == 503 and response.json()["code"] == "audit-unavailable"


def test_sign_in_hands_out_no_token_it_cannot_record(client: TestClient, runtime: Runtime, admin_token: str) -> None:
    break_the_trail(runtime)
    form = {"grant_type": "password", "username": "admin-test", "password": "admin-test-secret-123"}
    response = client.post("/auth/token", data=form)
    assert response.status_code == 503 and "access_token" not in response.text


def test_a_registration_whose_event_cannot_be_written_is_rolled_back(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, stored: Stored
) -> None:
    other = make_patient(random.Random(99))
    body = {"patient_id": "MRN-NEW", "national_id": other.national_id}
    assert client.post("/patients/xrefs", headers=hospital_a.headers, json=body).status_code == 201  # valid input
    break_the_trail(runtime)
    response = client.post("/patients/xrefs", headers=hospital_a.headers, json={**body, "patient_id": "MRN-NEW-2"})
    assert response.status_code == 503
    with runtime.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM patient_xrefs")).scalar() == 2  # not MRN-NEW-2
