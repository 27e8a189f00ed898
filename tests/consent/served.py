"""One served request per consent route, for the route inventory (``tests/audit/test_route_inventory.py``).

Everything a request needs (a grant to revoke, a code to redeem, a family link to remove, open sessions) is set
up here through the real routes first, so each listed request answers 2xx when replayed in order.
"""

from __future__ import annotations

import random
from typing import Any

from fastapi.testclient import TestClient

from auth.principals import Role
from imaging_cloud.demo.synthetic import make_patient
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital, register
from tests.consent.conftest import add_account, minor_national_id, person_headers

Requests = dict[tuple[str, str], dict[str, Any]]


def _created(response: Any) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def consent_requests(
    client: TestClient, runtime: Runtime, admin_token: str, hospital: Hospital, person_ref: str, national_id: str
) -> Requests:
    """Requests (in a replayable order) to every consent route, for the person ``person_ref`` of ``hospital``."""
    doctor = add_account(client, admin_token, "served-doctor", Role.DOCTOR, hospital.code, "served doctor")
    clerk = add_account(client, admin_token, "served-clerk", Role.SERVICE_DESK, hospital.code, "served clerk")
    patient = person_headers(runtime, person_ref)
    first = make_patient(random.Random(901))
    second = make_patient(random.Random(902))
    register(client, hospital, first, "MRN-SERVED-1")
    register(client, hospital, second, "MRN-SERVED-2")
    base = f"/persons/{person_ref}"
    grant = {"grantee": {"doctor": doctor.username}, "purpose": "treatment"}
    old_grant = _created(client.post(f"{base}/grants", headers=patient, json=grant))["id"]
    old_code = _created(client.post(f"{base}/codes", headers=patient, json={}))["public_id"]
    code = _created(client.post(f"{base}/codes", headers=patient, json={}))["code"]
    link = {"proxy": {"national_id": second.national_id}, "relationship": "spouse"}
    old_link = _created(client.post(f"{base}/proxies", headers=patient, json=link))["id"]
    glass = {"national_id": national_id, "purpose": "emergency-treatment", "reason": "chest pain, unconscious"}
    old_glass = _created(client.post("/doctor/break-glass", headers=doctor.headers, json=glass))["session_id"]
    desk = {"national_id": national_id, "document_type": "resident-id-card", "attested": True}
    old_desk = _created(client.post("/desk/sessions", headers=clerk.headers, json=desk))["session_id"]
    as_patient = {"headers": patient}
    as_doctor = {"headers": doctor.headers}
    as_clerk = {"headers": clerk.headers}
    return {
        ("POST", "/persons/{person_ref}/grants"): {"url": f"{base}/grants", "json": grant, **as_patient},
        ("GET", "/persons/{person_ref}/grants"): {"url": f"{base}/grants", **as_patient},
        ("GET", "/persons/{person_ref}/grants/{grant_id}/uses"): {
            "url": f"{base}/grants/{old_grant}/uses",
            **as_patient,
        },
        ("DELETE", "/persons/{person_ref}/grants/{grant_id}"): {"url": f"{base}/grants/{old_grant}", **as_patient},
        ("POST", "/persons/{person_ref}/codes"): {"url": f"{base}/codes", "json": {}, **as_patient},
        ("GET", "/persons/{person_ref}/codes"): {"url": f"{base}/codes", **as_patient},
        ("DELETE", "/persons/{person_ref}/codes/{public_id}"): {"url": f"{base}/codes/{old_code}", **as_patient},
        ("POST", "/doctor/codes/redeem"): {"url": "/doctor/codes/redeem", "json": {"code": code}, **as_doctor},
        ("POST", "/persons/{person_ref}/proxies"): {
            "url": f"{base}/proxies",
            "json": {"proxy": {"health_card": first.health_card}, "relationship": "child"},
            **as_patient,
        },
        ("GET", "/persons/{person_ref}/proxies"): {"url": f"{base}/proxies", **as_patient},
        ("DELETE", "/persons/{person_ref}/proxies/{proxy_id}"): {"url": f"{base}/proxies/{old_link}", **as_patient},
        ("GET", "/me/represented"): {"url": "/me/represented", **as_patient},
        ("GET", "/persons/{person_ref}/break-glass"): {"url": f"{base}/break-glass", **as_patient},
        ("GET", "/persons/{person_ref}/access-log"): {"url": f"{base}/access-log", **as_patient},
        ("POST", "/doctor/break-glass"): {"url": "/doctor/break-glass", "json": glass, **as_doctor},
        ("POST", "/doctor/break-glass/{session_id}/end"): {
            "url": f"/doctor/break-glass/{old_glass}/end",
            **as_doctor,
        },
        ("GET", "/doctor/patients"): {"url": "/doctor/patients", **as_doctor},
        ("POST", "/desk/sessions"): {"url": "/desk/sessions", "json": desk, **as_clerk},
        ("POST", "/desk/sessions/{session_id}/children"): {
            "url": f"/desk/sessions/{old_desk}/children",
            "json": {"national_id": minor_national_id(years=5, seed=903), "name": "served child"},
            **as_clerk,
        },
        ("POST", "/desk/sessions/{session_id}/end"): {"url": f"/desk/sessions/{old_desk}/end", **as_clerk},
    }
