"""The demo's consent examples, made through the front door the way patients make them.

Patient 1 signs in with the development EHC issuer and grants the demo doctor of a hospital that holds none of
their studies access to all of them (so that doctor sees priors from two other hospitals); patient 2 is
patient 1's family member (亲情账号) with the rights to view and to issue one-time codes. Idempotent: an active
grant or link that already exists is left alone.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import httpx

from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.sessions.dev_ehc import mask_card

GRANT_DAYS = 30


class ConsentSeedFailed(Exception):
    """A consent step of the demo answered an error; the message names the step and the status only."""


@dataclass(frozen=True)
class ConsentExample:
    """One line of the demo banner: what exists and who can see it (masked cards only)."""

    description: str


def _claims(token: str) -> dict[str, object]:
    """The payload of our own access token (the client reads its own claims; the service verifies them)."""
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _patient_session(client: httpx.Client, base_url: str, patient: SyntheticPatient) -> tuple[dict[str, str], str]:
    response = client.post(f"{base_url}/dev-ehc/sign-in", json={"health_card": patient.health_card})
    if response.status_code != 200:
        raise ConsentSeedFailed(f"a demo patient could not sign in: HTTP {response.status_code}")
    token = str(response.json()["access_token"])
    return {"Authorization": f"Bearer {token}"}, str(_claims(token)["person_ref"])


def _checked(response: httpx.Response, step: str) -> httpx.Response:
    if response.status_code not in (200, 201):
        raise ConsentSeedFailed(f"{step} failed: HTTP {response.status_code}")
    return response


def seed_consent(
    client: httpx.Client,
    base_url: str,
    patients: list[SyntheticPatient],
    doctor_username: str,
    doctor_institution: str,
) -> list[ConsentExample]:
    """Create the demo grant and family link if missing; describe them for the banner."""
    if len(patients) < 2:
        return []
    elder, family = patients[0], patients[1]
    headers, elder_ref = _patient_session(client, base_url, elder)
    grants = _checked(client.get(f"{base_url}/persons/{elder_ref}/grants", headers=headers), "listing grants").json()
    if not any(g["state"] == "active" and g["grantee"]["institution"] == doctor_institution for g in grants):
        _checked(
            client.post(
                f"{base_url}/persons/{elder_ref}/grants",
                headers=headers,
                json={"grantee": {"doctor": doctor_username}, "purpose": "treatment", "days": GRANT_DAYS},
            ),
            "granting access",
        )
    links = _checked(client.get(f"{base_url}/persons/{elder_ref}/proxies", headers=headers), "listing proxies").json()
    if not any(link["active"] for link in links):
        _checked(
            client.post(
                f"{base_url}/persons/{elder_ref}/proxies",
                headers=headers,
                json={
                    "proxy": {"health_card": family.health_card},
                    "relationship": "child",
                    "rights": {"view": True, "grant": False, "issue_codes": True},
                },
            ),
            "adding a family proxy",
        )
    elder_card, family_card = mask_card(elder.health_card), mask_card(family.health_card)
    return [
        ConsentExample(
            f"patient {elder_card} granted {doctor_username} ({doctor_institution}) all their studies for "
            f"{GRANT_DAYS} days: that doctor sees priors from the other hospitals"
        ),
        ConsentExample(
            f"patient {family_card} is family proxy of {elder_card} (view, issue codes): sign in as them, then "
            "亲情账号 → 代其操作 in the portal (POST /auth/act-for in the API)"
        ),
    ]
