"""Family proxies: a patient links a known family member with chosen rights; the proxy acts within them, every act
records both persons, a proxy cannot add proxies, and a removed link stops working at once."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from imaging_cloud.consent.models import Grant
from imaging_cloud.identity.models import Person
from imaging_cloud.runtime import Runtime
from tests.consent.conftest import World, events, grant_to, issue, proxy_headers


def add_proxy(client: TestClient, world: World, headers: dict[str, str] | None = None, **rights: bool) -> Any:
    return client.post(
        f"/persons/{world.ref}/proxies",
        headers=headers or world.patient_headers,
        json={"proxy": {"national_id": world.family.national_id}, "relationship": "child", "rights": rights},
    )


def test_a_proxy_with_the_view_right_sees_the_studies_and_the_access_log(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    response = add_proxy(client, world)
    assert response.status_code == 201, response.text
    link = response.json()
    assert (link["proxy_ref"], link["rights"], link["active"]) == (world.family_ref, ["view"], True)
    assert link["display_name"] == world.family.name_zh[0] + "*" * (len(world.family.name_zh) - 1)
    headers = proxy_headers(runtime, world.family_ref, world.ref)
    assert world.metadata(client, headers) == 200
    assert client.get(f"/persons/{world.ref}/access-log", headers=headers).status_code == 200
    [added] = events(runtime, "proxy-add")
    assert (added.patient, added.basis, added.details["proxy"]) == (world.ref, "own-data", world.family_ref)
    assert world.family.national_id not in str(added.details)


def test_a_proxy_without_the_grant_right_is_refused_and_with_it_grants_for_the_person(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    headers = proxy_headers(runtime, world.family_ref, world.ref)
    link_id = add_proxy(client, world).json()["id"]
    refused = grant_to(client, world, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "action-not-allowed")
    assert issue(client, world, headers=headers).status_code == 403
    assert client.delete(f"/persons/{world.ref}/proxies/{link_id}", headers=world.patient_headers).status_code == 204
    assert add_proxy(client, world, grant=True, issue_codes=True).status_code == 201
    granted = grant_to(client, world, headers=headers)
    assert granted.status_code == 201, granted.text
    assert issue(client, world, headers=headers).status_code == 201
    denied, event = events(runtime, "grant-create")
    assert (denied.decision, denied.status, event.decision) == ("deny", 403, "allow")
    assert (event.actor, event.acting_for, event.patient, event.basis) == (
        f"person:{world.family_ref}",
        world.ref,
        world.ref,
        "proxy",
    )
    with runtime.sessions() as session:
        grant = session.scalars(select(Grant)).one()
        family_id = session.scalar(select(Person.id).where(Person.pseudonym == world.family_ref))
    assert (grant.acted_by_person_id, grant.staff_session_id) == (family_id, None)


def test_a_proxy_cannot_add_list_or_remove_proxies(client: TestClient, world: World, runtime: Runtime) -> None:
    link_id = add_proxy(client, world, grant=True, issue_codes=True).json()["id"]
    headers = proxy_headers(runtime, world.family_ref, world.ref)
    for method, path in [
        ("POST", f"/persons/{world.ref}/proxies"),
        ("GET", f"/persons/{world.ref}/proxies"),
        ("DELETE", f"/persons/{world.ref}/proxies/{link_id}"),
    ]:
        body = {"proxy": {"health_card": world.patient.health_card}, "relationship": "spouse"}
        response = client.request(method, path, headers=headers, json=body)
        assert (response.status_code, response.json()["code"]) == (403, "action-not-allowed"), (method, path)


def test_a_removed_proxy_is_refused_on_its_next_request(client: TestClient, world: World, runtime: Runtime) -> None:
    link_id = add_proxy(client, world).json()["id"]
    headers = proxy_headers(runtime, world.family_ref, world.ref)
    assert world.metadata(client, headers) == 200
    assert client.delete(f"/persons/{world.ref}/proxies/{link_id}", headers=world.patient_headers).status_code == 204
    assert world.metadata(client, headers) == 404
    assert client.get(f"/persons/{world.ref}/access-log", headers=headers).status_code == 404
    [listed] = client.get(f"/persons/{world.ref}/proxies", headers=world.patient_headers).json()
    assert listed["active"] is False and listed["removed_at"]


def test_an_unknown_family_member_is_not_found_without_echoing_the_number(client: TestClient, world: World) -> None:
    response = client.post(
        f"/persons/{world.ref}/proxies",
        headers=world.patient_headers,
        json={"proxy": {"national_id": "110105194912310029"}, "relationship": "spouse"},
    )
    assert (response.status_code, response.json()["code"]) == (404, "person-not-found")
    assert "110105194912310029" not in response.text


def test_invalid_proxy_links_are_refused(client: TestClient, world: World) -> None:
    assert add_proxy(client, world).status_code == 201
    again = add_proxy(client, world)
    assert (again.status_code, again.json()["code"]) == (409, "proxy-exists")
    self_link = client.post(
        f"/persons/{world.ref}/proxies",
        headers=world.patient_headers,
        json={"proxy": {"health_card": world.patient.health_card}, "relationship": "other-family"},
    )
    assert (self_link.status_code, self_link.json()["code"]) == (422, "proxy-is-self")
    no_rights = client.post(
        f"/persons/{world.family_ref}/proxies",
        headers=world.family_headers,
        json={"proxy": {"national_id": world.patient.national_id}, "relationship": "parent", "rights": {"view": False}},
    )
    assert (no_rights.status_code, no_rights.json()["code"]) == (422, "no-rights")
    other = add_proxy(client, world, headers=world.family_headers)
    assert other.status_code == 404


def test_a_patient_lists_the_people_they_represent(client: TestClient, world: World, runtime: Runtime) -> None:
    assert client.get("/me/represented", headers=world.family_headers).json() == []
    add_proxy(client, world, issue_codes=True)
    response = client.get("/me/represented", headers=world.family_headers)
    assert response.status_code == 200, response.text
    [represented] = response.json()
    assert represented["person_ref"] == world.ref and represented["rights"] == ["issue-codes", "view"]
    assert represented["display_name"].startswith(world.patient.name_zh[0]) and "*" in represented["display_name"]
    refused = client.get("/me/represented", headers=world.doctor.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "patients-only")
