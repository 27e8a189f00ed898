"""Every consent route, served, is exactly one allowed event of its own action with a basis (the same check the
audit route inventory makes for the whole app, here for the consent routes alone)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from imaging_cloud.audit.recorder import audit_action_of
from imaging_cloud.consent import desk_router as desk
from imaging_cloud.consent import doctor_router as doctor
from imaging_cloud.consent import router as consent
from imaging_cloud.runtime import Runtime
from tests.audit.conftest import events_after, last_seq, verify
from tests.consent.conftest import World
from tests.consent.served import consent_requests

ROUTERS = (consent.router, consent.me_router, doctor.router, desk.router)


def consent_routes(app: FastAPI) -> dict[tuple[str, str], str]:
    """(method, path) → audited action of every consent route; each is served by the app."""
    served = set(app.openapi()["paths"])
    found: dict[tuple[str, str], str] = {}
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            action = audit_action_of(route.endpoint)
            assert action is not None and route.path in served, route.path
            for method in route.methods:
                found[(method, route.path)] = action.value
    return found


def test_each_served_consent_route_is_one_allowed_event_of_its_action(
    app: FastAPI, client: TestClient, runtime: Runtime, world: World, admin_token: str
) -> None:
    routes = consent_routes(app)
    requests = consent_requests(client, runtime, admin_token, world.hospital_a, world.ref, world.patient.national_id)
    assert set(requests) == set(routes)
    for (method, path), request in requests.items():
        before = last_seq(runtime)
        response = client.request(method, **request)
        assert response.status_code < 300, (method, path, response.status_code, response.text[:200])
        [event] = events_after(runtime, before)
        assert (event.action, event.decision, event.status) == (routes[(method, path)], "allow", response.status_code)
        assert event.basis, path
        assert event.patient or path == "/doctor/patients", path  # a list of many persons names none
    assert verify(runtime).ok
