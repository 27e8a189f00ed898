"""What the patient-portal tests need besides the browser: signing in as a given demo patient, and people's tokens
and person refs through the API (the way a doctor's system or a patient's phone gets them), to make something
happen that the patient then sees.

Patients are named by their index in the demo's seed (``ELDER`` granted a doctor access and made ``FAMILY`` their
family proxy): the development issuer lists them in registration order, which the parallel seed does not fix.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from playwright.sync_api import Page

from tests.web.conftest import DemoSite

ELDER, FAMILY, OTHER = 0, 1, 2
"""Seed indexes: the demo's patient with a grant and a family proxy, that proxy, and a third patient."""


def sign_in_as(page: Page, site: DemoSite, patient: int) -> None:
    """Sign in as the demo patient of seed index ``patient`` through the development EHC issuer's page."""
    card = site.seed.patients[patient].health_card
    page.goto("/web/sign-in")
    page.click("#ehc-sign-in")
    page.click(f"form:has(input[name=health_card][value='{card}']) button[type=submit]")
    page.wait_for_url("**/web/patient/")


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def patient_token(site: DemoSite, patient: int) -> str:
    """An access token of the demo patient of seed index ``patient``, from the development EHC issuer."""
    card = site.seed.patients[patient].health_card
    response = httpx.post(f"{site.url}/dev-ehc/sign-in", json={"health_card": card})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def person_ref(site: DemoSite, patient: int) -> str:
    return str(claims_of(patient_token(site, patient))["person_ref"])


def staff_token(site: DemoSite, username: str) -> str:
    form = {"grant_type": "password", "username": username, "password": site.password_of(username)}
    response = httpx.post(f"{site.url}/auth/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def study_uids(site: DemoSite, patient: int) -> set[str]:
    """The study UIDs a demo patient sees in their own timeline."""
    token = patient_token(site, patient)
    response = httpx.get(
        f"{site.url}/persons/{claims_of(token)['person_ref']}/studies",
        params={"window_days": 3650},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return {study["study_uid"] for study in response.json()["studies"]}
