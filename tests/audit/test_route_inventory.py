"""The route inventory tied to the trail: every route but health, keys and docs is audited, and one request to
any of them — refused or served — leaves exactly one event recorded as that route's action."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from auth.principals import Role
from imaging_cloud.app import PUBLIC_PATHS
from imaging_cloud.audit.vocabulary import AuditAction
from imaging_cloud.consent.models import ProxyLink
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient, make_study
from imaging_cloud.identity.link_handles import link_handle
from imaging_cloud.identity.models import Person
from imaging_cloud.identity.service import institution_link_key
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.dev_ehc import mint_dev_id_token
from tests.audit.conftest import PATIENT_ID, TINY_CT, Stored, events_after, last_seq, verify
from tests.conftest import Hospital, mint_token, register
from tests.consent.conftest import person_headers
from tests.consent.served import consent_requests
from tests.stow_client import stow_body

SIGN_IN = "/auth/token"
#: Public routes that are audited (every sign-in attempt is an event); other public routes record nothing.
SIGN_IN_ROUTES = frozenset({SIGN_IN, "/auth/ehc", "/dev-ehc/sign-in"})


def documented_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its OpenAPI document (as ``tests/test_route_inventory.py``)."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def concrete(path: str) -> str:
    return (
        path.replace("{tag}", "7FE00010")
        .replace("{frames}", "1")
        .format(
            study="1.2.3",
            series="1.2.4",
            instance="1.2.5",
            report_uid="1.2.6",
            person_ref="p-1",
            grant_id="1",
            public_id="ABCDE",
            proxy_id="1",
            session_id="1",
            flag_id="break-glass.1",
        )
    )


def refused_actions(client: TestClient, runtime: Runtime, app: FastAPI) -> dict[tuple[str, str], str]:
    """Request every route without a token; each audited one must leave exactly one denial. Route → action."""
    actions: dict[tuple[str, str], str] = {}
    for method, path in documented_routes(app):
        before = last_seq(runtime)
        response = client.request(method, concrete(path))
        events = events_after(runtime, before)
        if path in PUBLIC_PATHS and path not in SIGN_IN_ROUTES:
            assert response.status_code < 400 and events == [], path
            continue
        assert len(events) == 1, (method, path, len(events))
        [event] = events
        if path in SIGN_IN_ROUTES:
            assert (event.decision, event.status, event.outcome) == ("error", 422, "invalid-request")
        else:
            assert (event.decision, event.status, event.outcome) == ("deny", 401, "token-missing"), path
        actions[(method, path)] = AuditAction(event.action).value
    return actions


def test_every_route_but_health_keys_and_docs_records_one_event_per_refused_request(
    app: FastAPI, client: TestClient, runtime: Runtime
) -> None:
    actions = refused_actions(client, runtime, app)
    assert len(actions) >= 35
    assert actions[("POST", SIGN_IN)] == "sign-in" and actions[("GET", "/audit/export")] == "export-audit"
    assert verify(runtime).ok


def _served_requests(
    routes: list[tuple[str, str]],
    stored: Stored,
    patient: SyntheticPatient,
    hospital: Hospital,
    admin: dict[str, str],
    auditor: dict[str, str],
) -> dict[tuple[str, str], dict[str, Any]]:
    """One request per audited route that the service serves (2xx) for the right principal."""
    fresh = list(make_study(patient, TINY_CT, patient_id=PATIENT_ID, study_date=dt.date(2025, 9, 1), seed=11))
    body, content_type = stow_body(fresh)
    stow = {"content": body, "headers": {**hospital.headers, "Content-Type": content_type}}
    h = {"headers": hospital.headers}
    requests: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", SIGN_IN): {
            "url": SIGN_IN,
            "data": {"grant_type": "password", "username": "admin-test", "password": "admin-test-secret-123"},
        },
        ("POST", "/admin/institutions"): {
            "url": "/admin/institutions",
            "json": {"code": "HOSP-Z", "name": "Z"},
            "headers": admin,
        },
        ("POST", "/admin/accounts"): {
            "url": "/admin/accounts",
            "json": {"username": "auditor-1", "secret": "auditor-secret-123", "role": "auditor"},
            "headers": admin,
        },
        ("POST", "/patients/xrefs"): {
            "url": "/patients/xrefs",
            "json": {"patient_id": "MRN-OTHER", "national_id": make_patient(random.Random(5)).national_id},
            **h,
        },
        ("POST", "/dicomweb/studies"): {"url": "/dicomweb/studies", **stow},
        ("POST", "/dicomweb/studies/{study}"): {"url": f"/dicomweb/studies/{fresh[0].StudyInstanceUID}", **stow},
        ("POST", "/reports"): {
            "url": "/reports",
            "data": {"study_instance_uid": stored.original_study_uid, "report_id": "R-2"},
            "files": {"file": ("r.txt", "所见: 正常。\n".encode(), "text/plain")},
            **h,
        },
        ("GET", "/studies/{study}/reports"): {"url": f"/studies/{stored.study_uid}/reports", **h},
        ("GET", "/reports/{report_uid}"): {"url": f"/reports/{stored.report_uid}", **h},
    }
    for method, path in routes:
        if method == "GET" and path.startswith("/dicomweb/"):  # QIDO and WADO: the stored study's own UIDs
            url = path.replace("{tag}", "7FE00010").replace("{frames}", "1")
            url = url.format(study=stored.study_uid, series=stored.series_uid, instance=stored.sop_uids[0])
            requests[(method, path)] = {"url": url, **h}
    requests[("POST", "/audit/events/search")] = {
        "url": "/audit/events/search",
        "json": {"national_id": patient.national_id},
        "headers": auditor,
    }
    for path in ("/audit/events", "/audit/export", "/audit/verify", "/audit/checkpoints"):
        requests[("GET", path)] = {"url": path, "headers": auditor}
    return requests


def _session_requests(
    client: TestClient, runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> dict[tuple[str, str], dict[str, Any]]:
    """Patient sign-in (EHC and development EHC), sign-out, and taking up a proxy link held for a family member."""
    relative = register(client, hospital, make_patient(random.Random(6)), "MRN-FAMILY")
    with runtime.units() as uow:
        ids = dict(uow.session.execute(select(Person.pseudonym, Person.id)).all())
        own = next(pseudonym for pseudonym in ids if pseudonym != relative)
        uow.session.add(ProxyLink(person_id=ids[relative], proxy_person_id=ids[own]))
    patient_token = runtime.issuer.issue(
        subject=f"person:{own}", role="patient", ttl=dt.timedelta(minutes=5), extra={"person_ref": own}
    ).token
    leaving = mint_token(runtime, Role.AUDITOR, subject="account:leaving")
    return {
        ("POST", "/auth/ehc"): {
            "url": "/auth/ehc",
            "json": {"id_token": mint_dev_id_token(runtime, patient.health_card)},
        },
        ("POST", "/dev-ehc/sign-in"): {"url": "/dev-ehc/sign-in", "json": {"health_card": patient.health_card}},
        ("POST", "/auth/sign-out"): {"url": "/auth/sign-out", "headers": {"Authorization": f"Bearer {leaving}"}},
        ("POST", "/auth/act-for"): {
            "url": "/auth/act-for",
            "json": {"person_ref": relative},
            "headers": {"Authorization": f"Bearer {patient_token}"},
        },
    }


def test_a_served_request_to_any_route_is_exactly_one_allowed_access_of_the_same_action(
    app: FastAPI,
    client: TestClient,
    runtime: Runtime,
    stored: Stored,
    patient: SyntheticPatient,
    hospital_a: Hospital,
    admin_token: str,
    auditor_headers: dict[str, str],
) -> None:
    actions = refused_actions(client, runtime, app)
    admin = {"Authorization": f"Bearer {admin_token}"}
    requests = _served_requests(documented_routes(app), stored, patient, hospital_a, admin, auditor_headers)
    requests.update(_session_requests(client, runtime, hospital_a, patient))
    requests.update(consent_requests(client, runtime, admin_token, hospital_a, stored.pseudonym, patient.national_id))
    glass = client.post(
        "/doctor/break-glass",
        headers=requests[("POST", "/doctor/break-glass")]["headers"],
        json={"national_id": patient.national_id, "purpose": "other", "reason": "reviewed by the inventory test"},
    ).json()["session_id"]
    requests[("GET", "/audit/break-glass")] = {"url": "/audit/break-glass", "headers": auditor_headers}
    requests[("POST", "/audit/break-glass/{session_id}/review")] = {
        "url": f"/audit/break-glass/{glass}/review",
        "json": {"note": "checked"},
        "headers": auditor_headers,
    }
    handle = link_handle(institution_link_key(runtime.keys, hospital_a.institution_id), "", PATIENT_ID)
    requests[("GET", "/patients/link-key")] = {"url": "/patients/link-key", "headers": hospital_a.headers}
    requests[("POST", "/patients/link-tokens")] = {
        "url": "/patients/link-tokens",
        "json": {"link_handle": handle},
        "headers": hospital_a.headers,
    }
    requests[("GET", "/audit/flags")] = {"url": "/audit/flags", "headers": auditor_headers}
    requests[("POST", "/audit/flags/{flag_id}/review")] = {
        "url": f"/audit/flags/break-glass.{glass}/review",
        "json": {"note": "checked"},
        "headers": auditor_headers,
    }
    own = {"headers": person_headers(runtime, stored.pseudonym)}
    requests[("GET", "/persons/{person_ref}/studies")] = {"url": f"/persons/{stored.pseudonym}/studies", **own}
    requests[("GET", "/persons/{person_ref}/duplicate-check")] = {
        "url": f"/persons/{stored.pseudonym}/duplicate-check?modality=CT",
        **own,
    }
    assert set(requests) == set(actions), "a route without a request here: add one"
    for (method, path), request in requests.items():
        before = last_seq(runtime)
        response = client.request(method, **request)
        assert response.status_code < 300, (method, path, response.status_code, response.text[:200])
        [event] = events_after(runtime, before)
        assert (event.action, event.decision, event.status) == (actions[(method, path)], "allow", response.status_code)
        assert event.basis, path
    assert verify(runtime).ok
