"""The service desk: after an attested in-person ID check a clerk issues codes and sets up proxies for the person
(recorded as staff-assisted), never sees images, and registers a guardian's child (minors only)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from auth.principals import Role
from imaging_cloud.consent.models import OneTimeCode, ProxyLink, StaffSession
from imaging_cloud.runtime import Runtime
from tests.consent.conftest import World, add_account, events, grant_to, issue, minor_national_id, proxy_headers


def open_desk(client: TestClient, world: World, national_id: str | None = None, **body: Any) -> Any:
    payload = {
        "national_id": national_id or world.patient.national_id,
        "document_type": "resident-id-card",
        "attested": True,
        **body,
    }
    return client.post("/desk/sessions", headers=world.clerk.headers, json=payload)


def test_a_clerk_in_session_issues_a_code_recorded_as_staff_assisted(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    assert issue(client, world, headers=world.clerk.headers).status_code == 404
    response = open_desk(client, world, note="老人持身份证到窗口")
    assert response.status_code == 201, response.text
    session_id = response.json()["session_id"]
    assert response.json()["person_ref"] == world.ref
    issued = issue(client, world, headers=world.clerk.headers)
    assert issued.status_code == 201, issued.text
    [event] = [e for e in events(runtime, "code-issue") if e.decision == "allow"]
    assert (event.actor, event.basis, event.patient) == (world.clerk.subject, f"staff-assisted:{session_id}", world.ref)
    with runtime.sessions() as session:
        code = session.scalars(select(OneTimeCode)).one()
        desk = session.get_one(StaffSession, session_id)
    assert (code.staff_session_id, code.acted_by_person_id) == (session_id, None)
    assert world.clerk.subject in desk.attestation and desk.document_type == "resident-id-card"
    [started] = events(runtime, "desk-session-start")
    assert "老人" not in str(started.details) and world.patient.national_id not in str(started.details)
    assert (
        client.post(
            "/doctor/codes/redeem", headers=world.doctor.headers, json={"code": issued.json()["code"]}
        ).status_code
        == 200
    )


def test_a_clerk_sets_up_a_proxy_but_never_grants_or_sees_images(client: TestClient, world: World) -> None:
    open_desk(client, world)
    added = client.post(
        f"/persons/{world.ref}/proxies",
        headers=world.clerk.headers,
        json={"proxy": {"health_card": world.family.health_card}, "relationship": "child"},
    )
    assert added.status_code == 201, added.text
    refused = grant_to(client, world, headers=world.clerk.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "action-not-allowed")
    assert world.metadata(client, world.clerk.headers) == 403
    assert client.get(f"/persons/{world.ref}/access-log", headers=world.clerk.headers).status_code == 403


def test_an_ended_session_ends_the_clerks_access(client: TestClient, world: World) -> None:
    session_id = open_desk(client, world).json()["session_id"]
    ended = client.post(f"/desk/sessions/{session_id}/end", headers=world.clerk.headers)
    assert ended.status_code == 200 and ended.json()["ended_at"]
    assert issue(client, world, headers=world.clerk.headers).status_code == 404
    again = client.post(f"/desk/sessions/{session_id}/end", headers=world.clerk.headers)
    assert (again.status_code, again.json()["code"]) == (404, "desk-session-not-found")


def test_a_desk_session_needs_an_attested_check_of_a_known_person_by_a_clerk(client: TestClient, world: World) -> None:
    unattested = open_desk(client, world, attested=False)
    assert (unattested.status_code, unattested.json()["code"]) == (422, "attestation-required")
    unknown = open_desk(client, world, national_id="110105194912310029")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "person-not-found")
    assert "110105194912310029" not in unknown.text
    as_doctor = client.post(
        "/desk/sessions",
        headers=world.doctor.headers,
        json={"national_id": world.patient.national_id, "document_type": "passport", "attested": True},
    )
    assert (as_doctor.status_code, as_doctor.json()["code"]) == (403, "action-not-allowed")


def test_a_guardian_registers_a_child_and_then_acts_for_it(client: TestClient, world: World, runtime: Runtime) -> None:
    session_id = open_desk(client, world).json()["session_id"]
    child_id = minor_national_id()
    response = client.post(
        f"/desk/sessions/{session_id}/children",
        headers=world.clerk.headers,
        json={"national_id": child_id, "name": "王小明", "relationship": "parent"},
    )
    assert response.status_code == 201, response.text
    child = response.json()
    assert child["created"] is True
    with runtime.sessions() as session:
        link = session.get_one(ProxyLink, child["proxy_id"])
    assert (link.can_view, link.can_grant, link.can_issue_codes, link.staff_session_id) == (
        True,
        True,
        True,
        session_id,
    )
    guardian = proxy_headers(runtime, world.ref, child["person_ref"])
    assert client.post(f"/persons/{child['person_ref']}/codes", headers=guardian, json={}).status_code == 201
    [event] = events(runtime, "desk-register-child")
    assert (event.patient, event.basis, event.details["guardian"]) == (
        child["person_ref"],
        f"staff-assisted:{session_id}",
        world.ref,
    )
    assert child_id not in str(event.details) and "王小明" not in str(event.details)


def test_only_a_minor_is_registered_as_a_child(client: TestClient, world: World) -> None:
    session_id = open_desk(client, world).json()["session_id"]
    for national_id, code in [
        (world.family.national_id, "not-a-minor"),
        (minor_national_id(years=19), "not-a-minor"),
        ("110105194912310028", "invalid-national-id"),
    ]:
        response = client.post(
            f"/desk/sessions/{session_id}/children",
            headers=world.clerk.headers,
            json={"national_id": national_id, "name": "某某"},
        )
        assert (response.status_code, response.json()["code"]) == (422, code), national_id
    other = client.post(
        "/desk/sessions/999/children",
        headers=world.clerk.headers,
        json={"national_id": minor_national_id(), "name": "某"},
    )
    assert (other.status_code, other.json()["code"]) == (404, "desk-session-not-found")


def test_a_desk_session_serves_only_the_clerk_who_opened_it(client: TestClient, world: World, admin_token: str) -> None:
    session_id = open_desk(client, world).json()["session_id"]
    colleague = add_account(client, admin_token, "desk-qian", Role.SERVICE_DESK, world.hospital_b.code, "钱")
    child = {"national_id": minor_national_id(), "name": "王小明", "relationship": "parent"}
    for headers, status in (
        (colleague.headers, 404),
        (world.doctor.headers, 403),
        (world.patient_headers, 403),
        (world.family_headers, 403),
    ):
        registered = client.post(f"/desk/sessions/{session_id}/children", headers=headers, json=child)
        assert registered.status_code == status, (headers, registered.text)
        ended = client.post(f"/desk/sessions/{session_id}/end", headers=headers)
        assert ended.status_code == status
    for outsider in (colleague.headers, world.doctor.headers):
        assert issue(client, world, headers=outsider).status_code in (403, 404)
    registered = client.post(f"/desk/sessions/{session_id}/children", headers=world.clerk.headers, json=child)
    assert registered.status_code == 201
