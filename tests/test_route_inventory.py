"""Every route outside the public allowlist demands a token: a new route cannot ship unauthenticated."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from imaging_cloud.app import PUBLIC_PATHS
from tests.authorization_coverage import AUTHORIZATION_TESTS


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its OpenAPI document (included routers are nested objects)."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_non_public_route_answers_401_without_a_token(app: FastAPI, client: TestClient) -> None:
    checked = 0
    for method, path in _routes(app):
        if path in PUBLIC_PATHS:
            continue
        concrete = re.sub(r"\{[^}]+\}", "1.2.3", path)
        response = client.request(method, concrete)
        assert response.status_code == 401, f"{method} {path} answered {response.status_code} without a token"
        assert response.json()["code"] == "token-missing"
        checked += 1
    assert checked >= 5


def test_every_non_public_route_rejects_a_forged_token(app: FastAPI, client: TestClient) -> None:
    forged = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0."
    for method, path in _routes(app):
        if path in PUBLIC_PATHS:
            continue
        response = client.request(
            method, re.sub(r"\{[^}]+\}", "1.2.3", path), headers={"Authorization": f"Bearer {forged}"}
        )
        assert response.status_code == 401, f"{method} {path} accepted an unsigned token"


def test_public_routes_are_only_health_sign_in_and_docs(app: FastAPI) -> None:
    public = {path for _method, path in _routes(app) if path in PUBLIC_PATHS}
    sign_in = {"/auth/token", "/auth/ehc", "/.well-known/jwks.json"}
    development_only = {"/dev-ehc/", "/dev-ehc/sign-in"}  # not mounted in production (tests/sessions)
    assert public <= {"/healthz", *sign_in, *development_only}


def test_every_non_public_route_has_a_named_authorization_test_that_exists(app: FastAPI) -> None:
    """Authentication alone is not enough: each route's refusals must be proven by a test named in
    ``tests/authorization_coverage.py`` (a new route fails here until it has one)."""
    missing = [route for route in _routes(app) if route[1] not in PUBLIC_PATHS and route not in AUTHORIZATION_TESTS]
    assert not missing, f"routes without an authorization test: {missing}"
    root = Path(__file__).resolve().parent.parent
    for route, reference in AUTHORIZATION_TESTS.items():
        file, _, name = reference.partition("::")
        tree = ast.parse((root / file).read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert name in defined, f"{route}: {reference} does not exist"
    stale = set(AUTHORIZATION_TESTS) - set(_routes(app))
    assert not stale, f"listed routes the app does not serve: {stale}"
