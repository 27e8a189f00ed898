"""The development EHC issuer: sign in as any demo patient without the provincial EHC platform.

DEVELOPMENT ONLY. It signs anyone in as any person holding a health card, so ``create_app`` mounts it only when
``environment=development`` (in production the routes do not exist: 404) and the runtime has no key for it. It
mints the same kind of OpenID Connect ID token the real platform does (no ``role`` claim, the card number in
``ehc_card_number``) with a key generated under the data dir, and exchanges it through the very path
``POST /auth/ehc`` uses, which trusts this issuer only in development.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.tokens import TokenIssuer
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction
from imaging_cloud.errors import ERROR_RESPONSES
from imaging_cloud.identity.models import HealthCard, Person
from imaging_cloud.identity.service import HEALTH_CARD
from imaging_cloud.keys import KeyRing
from imaging_cloud.runtime import Runtime, get_runtime
from imaging_cloud.sessions.ehc import EHC_CARD_CLAIM, sign_in_with_id_token
from imaging_cloud.sessions.refresh import TokenOut
from imaging_cloud.sessions.trust import DEV_EHC_ISSUER

NOTICE = "DEVELOPMENT EHC ISSUER — signs anyone in as any demo patient; never enabled in production"
ID_TOKEN_TTL = dt.timedelta(minutes=5)
MAX_LISTED = 100
#: The portal's page listing the same demo patients with sign-in buttons (it calls this router's JSON).
DEMO_SIGN_IN_PAGE = "/web/sign-in/ehc-demo"

router = APIRouter(prefix="/dev-ehc", tags=["development EHC issuer"])


def mask_card(card: str) -> str:
    """``1234****5678``: enough to tell demo cards apart, not the number."""
    card = card.strip()
    return f"{card[:4]}****{card[-4:]}" if len(card) >= 10 else "****"


def mask_name(name: str) -> str:
    """The first character, the rest starred (``张**``)."""
    name = name.strip()
    return name[:1] + "*" * max(2, len(name) - 1) if name else "***"


def mint_dev_id_token(runtime: Runtime, health_card: str, *, now: dt.datetime | None = None) -> str:
    """An EHC-style ID token for ``health_card`` from the development issuer (for the demo and its tests)."""
    if runtime.dev_ehc_key is None:
        raise RuntimeError("the development EHC issuer exists only in development mode")
    issuer = TokenIssuer(runtime.dev_ehc_key, DEV_EHC_ISSUER, runtime.settings.ehc_audience)
    card = health_card.strip()
    subject = "dev-ehc-user:" + runtime.keys.lookup_hash(HEALTH_CARD, card)[:24]
    return issuer.issue(subject=subject, role=None, ttl=ID_TOKEN_TTL, now=now, extra={EHC_CARD_CLAIM: card}).token


@dataclass(frozen=True)
class DemoPatient:
    name: str
    """Masked."""
    card: str
    """Masked."""
    health_card: str
    """The full card number: what the development sign-in takes (synthetic demo data only)."""


def demo_patients(session: Session, keys: KeyRing, *, limit: int = MAX_LISTED) -> list[DemoPatient]:
    """People with a health card, masked for display, in registration order."""
    rows = session.execute(
        select(HealthCard.card_number_encrypted, Person.name_encrypted)
        .join(Person, HealthCard.person_id == Person.id)
        .order_by(HealthCard.id)
        .limit(limit)
    ).all()
    listed = []
    for card_encrypted, name_encrypted in rows:
        card = keys.decrypt(card_encrypted)
        name = keys.decrypt(name_encrypted) if name_encrypted is not None else ""
        listed.append(DemoPatient(name=mask_name(name), card=mask_card(card), health_card=card))
    return listed


@router.get("/", response_model=None)
def list_demo_patients(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Response:
    """The demo patients (masked) as JSON; a browser is sent to the portal's page of the same list."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(DEMO_SIGN_IN_PAGE, status_code=303)
    with runtime.units.read_only() as session:
        patients = demo_patients(session, runtime.keys)
    return JSONResponse({"notice": NOTICE, "patients": [asdict(p) for p in patients]})


class DevSignInIn(BaseModel):
    health_card: str = Field(min_length=1, max_length=64)


@router.post(
    "/sign-in", response_model=TokenOut, response_model_exclude_none=True, responses={401: ERROR_RESPONSES[401]}
)
@audited(AuditAction.SIGN_IN, target=no_target)
def dev_sign_in(body: DevSignInIn, runtime: Annotated[Runtime, Depends(get_runtime)], audit: Audit) -> TokenOut:
    """Mint a development EHC ID token for the card and exchange it like ``POST /auth/ehc`` would."""
    return sign_in_with_id_token(runtime, audit, mint_dev_id_token(runtime, body.health_card), channel="dev-ehc")
