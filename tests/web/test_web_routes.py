"""The portal's route inventory: every page needs a sign-in (or is on the short public list), every form a CSRF
token, and every answer the security headers — checked for each route the portal mounts, so a new page cannot
ship without them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.dev_ehc import mint_dev_id_token
from imaging_cloud.web.api import ApiCallFailed, refuse_climbing
from imaging_cloud.web.router import PAGE_MODULES, PUBLIC_WEB_PAGES
from imaging_cloud.web.security_headers import CONTENT_SECURITY_POLICY
from tests.conftest import Hospital, register


def web_routes() -> list[tuple[str, str]]:
    routes = [
        (method, route.path)
        for module in PAGE_MODULES
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
    ]
    assert len(routes) >= 8
    return routes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1.2.3", path)


@pytest.fixture
def browser_client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTPS test client: the portal's cookies are Secure, so a plain-HTTP client would never send them."""
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def test_every_page_without_a_sign_in_redirects_to_the_sign_in_page(browser_client: TestClient) -> None:
    for method, path in web_routes():
        if method != "GET" or path in PUBLIC_WEB_PAGES:
            continue
        response = browser_client.get(concrete(path))
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/web/sign-in"), path


def test_every_form_without_the_csrf_token_is_refused(browser_client: TestClient) -> None:
    browser_client.get("/web/sign-in")  # the browser has a CSRF cookie, but the forged form does not carry it
    for method, path in web_routes():
        if method != "POST":
            continue
        response = browser_client.post(concrete(path), data={"csrf_token": "forged"})
        assert response.status_code in {403, 422}, (path, response.status_code)
        if response.status_code == 403:
            assert 'data-error-code="csrf-failed"' in response.text, path


def test_a_cross_site_form_with_the_right_token_is_still_refused(browser_client: TestClient) -> None:
    browser_client.get("/web/sign-in")
    token = browser_client.cookies["ic_csrf"]
    response = browser_client.post(
        "/web/preferences", data={"csrf_token": token, "language": "en"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    same = browser_client.post(
        "/web/preferences", data={"csrf_token": token, "language": "en"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert same.status_code == 303


def test_pages_and_api_answers_carry_the_security_headers(browser_client: TestClient) -> None:
    for path in ("/web/sign-in", "/healthz", "/static/css/portal.css"):
        headers = browser_client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    browser_client.cookies.clear()
    page = browser_client.get("/web/sign-in")
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie


def test_the_api_takes_the_portal_cookie_for_reads_only(
    browser_client: TestClient, runtime: Runtime, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    """A cookie lets the viewer GET images, but can never change anything through the API."""
    register(browser_client, hospital_a, patient, "WEB-1")
    signed_in = browser_client.post("/auth/ehc", json={"id_token": mint_dev_id_token(runtime, patient.health_card)})
    token = signed_in.json()["access_token"]
    browser_client.cookies.set("ic_access", token)
    assert browser_client.get("/me/represented").status_code == 200
    change = browser_client.post("/auth/act-for", json={"person_ref": "p-1"})
    assert change.status_code == 401 and change.json()["code"] == "token-missing"


def test_a_next_parameter_cannot_redirect_off_the_portal(browser_client: TestClient) -> None:
    for hostile in ("https://evil.example/", "//evil.example/web/", "/web/../evil", "/\\evil.example"):
        page = browser_client.get("/web/sign-in", params={"next": hostile})
        assert "evil" not in page.text


@pytest.mark.parametrize("path", ["/persons/../audit/events", "/dicomweb/studies/./series", "/persons/a%2F..%2Fb"])
def test_a_page_cannot_turn_its_path_parameter_into_another_api_path(path: str) -> None:
    """``..`` or an encoded slash from a page's path parameter never reaches the API as another resource."""
    with pytest.raises(ApiCallFailed) as refused:
        refuse_climbing(path)
    assert refused.value.status == 404
    refuse_climbing("/dicomweb/studies/1.2.3/series?includefield=0008103E")  # an ordinary path passes
