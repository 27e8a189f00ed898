"""Auditors review every break-glass session: listed until reviewed, reviewed once, the note kept off the chain."""

from __future__ import annotations

from fastapi.testclient import TestClient

from auth.principals import Role
from imaging_cloud.runtime import Runtime
from tests.consent.conftest import World, add_account, events
from tests.consent.test_break_glass import REASON, break_glass

NOTE = "已核实：患者急诊昏迷，主治医生调阅既往CT合理"


def test_an_auditor_lists_unreviewed_break_glass_and_marks_it_reviewed_once(
    client: TestClient, world: World, runtime: Runtime, admin_token: str
) -> None:
    auditor = add_account(client, admin_token, "auditor-ma", Role.AUDITOR, None, "马审计")
    session_id = break_glass(client, world).json()["session_id"]

    [pending] = client.get("/audit/break-glass", headers=auditor.headers).json()
    assert (pending["id"], pending["person_ref"], pending["doctor"], pending["reason"]) == (
        session_id,
        world.ref,
        world.doctor.username,
        REASON,
    )
    assert pending["reviewed_at"] is None

    reviewed = client.post(f"/audit/break-glass/{session_id}/review", headers=auditor.headers, json={"note": NOTE})
    assert reviewed.status_code == 200, reviewed.text
    assert (reviewed.json()["reviewed_by"], reviewed.json()["review_note"]) == ("auditor-ma", NOTE)
    assert client.get("/audit/break-glass", headers=auditor.headers).json() == []
    [done] = client.get("/audit/break-glass?reviewed=true", headers=auditor.headers).json()
    assert done["id"] == session_id

    again = client.post(f"/audit/break-glass/{session_id}/review", headers=auditor.headers, json={"note": NOTE})
    assert (again.status_code, again.json()["code"]) == (409, "already-reviewed")
    [event] = [e for e in events(runtime, "break-glass-review") if e.decision == "allow"]
    assert (event.patient, event.target_id, event.decision) == (world.ref, str(session_id), "allow")
    assert NOTE not in str(event.details) and REASON not in str(event.details)


def test_only_auditors_see_or_review_break_glass_sessions(client: TestClient, world: World, admin_token: str) -> None:
    session_id = break_glass(client, world).json()["session_id"]
    for headers in (world.doctor.headers, world.patient_headers, {"Authorization": f"Bearer {admin_token}"}):
        assert client.get("/audit/break-glass", headers=headers).status_code == 403
        review = client.post(f"/audit/break-glass/{session_id}/review", headers=headers, json={"note": NOTE})
        assert review.status_code == 403
    auditor = add_account(client, admin_token, "auditor-ma", Role.AUDITOR, None, "马审计")
    missing = client.post("/audit/break-glass/999999/review", headers=auditor.headers, json={"note": NOTE})
    assert (missing.status_code, missing.json()["code"]) == (404, "break-glass-not-found")
