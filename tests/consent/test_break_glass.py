"""Break-glass: a doctor states a coded purpose and a reason and sees one person's studies for a while; the reason
stays out of the trail; the patient sees the session and its accesses."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from imaging_cloud.runtime import Runtime
from tests.consent.conftest import World, events

REASON = "患者昏迷送急诊，需查看既往胸部CT以排除气胸"


def break_glass(client: TestClient, world: World, headers: dict[str, str] | None = None, **body: Any) -> Any:
    payload = {"national_id": world.patient.national_id, "purpose": "unconscious-patient", "reason": REASON, **body}
    return client.post("/doctor/break-glass", headers=headers or world.doctor.headers, json=payload)


def test_break_glass_opens_the_persons_studies_and_the_patient_sees_it(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    assert world.metadata(client, world.doctor.headers) == 404
    response = break_glass(client, world)
    assert response.status_code == 201, response.text
    opened = response.json()
    assert opened["person_ref"] == world.ref and opened["warning"] == "audited, the patient is told"
    assert world.metadata(client, world.doctor.headers) == 200
    assert world.metadata(client, world.doctor.headers, world.mr) == 200
    [event] = events(runtime, "break-glass")
    assert (event.patient, event.details["purpose"]) == (world.ref, "unconscious-patient")
    assert REASON not in str(event.details) and REASON not in event.reason
    seen = client.get(f"/persons/{world.ref}/break-glass", headers=world.patient_headers)
    assert seen.status_code == 200
    [session] = seen.json()
    assert (session["id"], session["doctor"], session["institution"], session["reason"]) == (
        opened["session_id"],
        "王医生",
        world.hospital_b.code,
        REASON,
    )
    log = client.get(f"/persons/{world.ref}/access-log", headers=world.patient_headers).json()["events"]
    assert f"break-glass:{opened['session_id']}" in {e["basis"] for e in log}


def test_an_ended_break_glass_session_opens_nothing(client: TestClient, world: World) -> None:
    session_id = break_glass(client, world, health_card=None).json()["session_id"]
    ended = client.post(f"/doctor/break-glass/{session_id}/end", headers=world.doctor.headers)
    assert ended.status_code == 200 and ended.json()["ended_at"]
    assert world.metadata(client, world.doctor.headers) == 404
    other = client.post(f"/doctor/break-glass/{session_id}/end", headers=world.other_doctor.headers)
    assert (other.status_code, other.json()["code"]) == (404, "break-glass-not-found")


def test_break_glass_needs_a_doctor_a_reason_and_a_known_person(client: TestClient, world: World) -> None:
    short = break_glass(client, world, reason="急诊")
    assert short.status_code == 422
    by_card = break_glass(client, world, national_id=None, health_card=world.patient.health_card)
    assert by_card.status_code == 201
    unknown = break_glass(client, world, national_id="110105194912310029")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "person-not-found")
    for headers in (world.clerk.headers, world.patient_headers):
        assert break_glass(client, world, headers=headers).status_code == 403
    other = client.get(f"/persons/{world.ref}/break-glass", headers=world.family_headers)
    assert other.status_code == 404


def test_only_the_person_and_their_viewing_proxy_see_the_break_glass_sessions(client: TestClient, world: World) -> None:
    break_glass(client, world)
    path = f"/persons/{world.ref}/break-glass"
    # The doctor who broke the glass knows the person (403); nobody else learns they exist (404).
    assert client.get(path, headers=world.doctor.headers).status_code == 403
    for headers in (world.other_doctor.headers, world.clerk.headers, world.family_headers):
        assert client.get(path, headers=headers).status_code == 404
    assert client.get(path, headers=world.patient_headers).status_code == 200
