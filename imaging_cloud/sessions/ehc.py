"""Patient sign-in with the electronic health card identity: a trusted EHC issuer's ID token → our patient token.

The EHC platform vouches for the person; this module only maps its claims to a ``Person`` (by the health card
number, else the national ID, both through keyed lookup hashes) and issues our own tokens naming the person by
pseudonym. The ID token itself (which holds identifiers) is never stored or recorded.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.national_id import normalize_national_id
from auth.principals import PERSON_REF_CLAIM, Role
from auth.tokens import Claims, InvalidToken
from imaging_cloud.audit.entry import Actor, Target
from imaging_cloud.audit.recorder import AuditRecorder
from imaging_cloud.audit.vocabulary import AuditDecision, TargetKind
from imaging_cloud.errors import Unauthenticated
from imaging_cloud.identity.models import HealthCard, Person
from imaging_cloud.identity.service import HEALTH_CARD, NATIONAL_ID
from imaging_cloud.keys import KeyRing
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.refresh import SessionGrant, TokenOut, start_session

EHC_CARD_CLAIM = "ehc_card_number"
"""The ID-token claim holding the electronic health card number."""
NATIONAL_ID_CLAIM = "national_id"
"""The ID-token claim holding the national ID (used when the card is not known here)."""


def person_of_claims(session: Session, keys: KeyRing, claims: Claims) -> Person | None:
    """The person the EHC identity names: by health card number first, then by national ID."""
    card = claims.extra.get(EHC_CARD_CLAIM)
    if isinstance(card, str) and card.strip():
        card_hash = keys.lookup_hash(HEALTH_CARD, card)
        person = session.scalar(
            select(Person)
            .join(HealthCard, HealthCard.person_id == Person.id)
            .where(HealthCard.card_number_hash == card_hash)
        )
        if person is not None:
            return person
    national_id = claims.extra.get(NATIONAL_ID_CLAIM)
    if isinstance(national_id, str) and national_id.strip():
        lookup = keys.lookup_hash(NATIONAL_ID, normalize_national_id(national_id))
        return session.scalar(select(Person).where(Person.national_id_hash == lookup))
    return None


def patient_grant(pseudonym: str) -> SessionGrant:
    """What a patient's sign-in grants: our patient token naming the person by pseudonym."""
    return SessionGrant(subject=f"person:{pseudonym}", role=Role.PATIENT.value, claims={PERSON_REF_CLAIM: pseudonym})


def sign_in_with_id_token(
    runtime: Runtime, audit: AuditRecorder, id_token: str, *, channel: str, now: dt.datetime | None = None
) -> TokenOut:
    """Exchange a trusted EHC issuer's ID token for a patient access token and refresh token (audited).

    A bad ID token answers 401 ``token-invalid`` with the generic message; a valid one naming nobody known here
    answers 401 ``unknown-person``. ``channel`` names the route in the audit details (no identifiers).
    """
    at = now or dt.datetime.now(dt.UTC)
    try:
        claims = runtime.ehc.verify(id_token, now=at)
    except InvalidToken as exc:
        audit.record(
            decision=AuditDecision.DENY,
            status=401,
            outcome="token-invalid",
            reason="the EHC ID token was not accepted",
            details={"channel": channel, "token_failure": exc.detail},
        )
        raise Unauthenticated("the token is not valid", code="token-invalid") from None
    with runtime.units.read_only() as session:
        person = person_of_claims(session, runtime.keys, claims)
        pseudonym = person.pseudonym if person is not None else None
    if pseudonym is None:
        audit.record(
            decision=AuditDecision.DENY,
            status=401,
            outcome="unknown-person",
            reason="the EHC identity matches no person known to this service",
            details={"channel": channel},
        )
        raise Unauthenticated("this health card identity is not known here", code="unknown-person")
    with runtime.units() as uow:
        issued = start_session(uow.session, runtime, patient_grant(pseudonym), now=at)
    audit.about(Target(TargetKind.PERSON, pseudonym), patient=pseudonym)
    audit.record(
        reason="a trusted EHC issuer vouched for the person",
        basis="ehc-identity",
        details={"channel": channel},
        actor=Actor(issued.grant.subject, role=issued.grant.role, token_id=issued.access.jti),
    )
    return issued.response(at)
