"""The staff-assisted (offline) channel: a service-desk clerk serves a person in person after an ID check.

The clerk attests the check and opens a short ``StaffSession`` for that person; while it lasts, the policy lets
the clerk list the person's studies, issue codes and set up proxies (``staff-assisted:<id>``), never see images.
The session row holds the attestation (document type, the clerk's account, an optional note); consent rows made
in it point to it, and audit events name it in their basis.

A guardian registering a child does it in the guardian's session: the child (under 18 by the birth date in the
national ID) is found or created and linked to the guardian as a proxy with every right.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.national_id import age_on, is_valid_national_id, normalize_national_id
from auth.policy import ProxyRight
from imaging_cloud.consent.actors import ActedBy, StaffAccount
from imaging_cloud.consent.models import StaffSession
from imaging_cloud.consent.proxies import add_link
from imaging_cloud.errors import NotFound, Unprocessable
from imaging_cloud.identity.models import Person
from imaging_cloud.identity.service import get_or_create_person
from imaging_cloud.keys import KeyRing

SESSION_LENGTH = dt.timedelta(minutes=30)
ADULT_AGE = 18


class DocumentType(StrEnum):
    RESIDENT_ID_CARD = "resident-id-card"
    HOUSEHOLD_REGISTER = "household-register"
    PASSPORT = "passport"
    OTHER = "other"


class ChildRelationship(StrEnum):
    PARENT = "parent"
    GUARDIAN = "guardian"


class DeskSessionIn(BaseModel):
    national_id: str = Field(min_length=15, max_length=18)
    document_type: DocumentType
    attested: bool = Field(description="The clerk checked the identity document in person")
    note: str | None = Field(default=None, max_length=120, description="Kept with the session, never in the trail")


class DeskSessionOut(BaseModel):
    session_id: int
    person_ref: str
    expires_at: dt.datetime


class ChildIn(BaseModel):
    national_id: str = Field(min_length=18, max_length=18)
    name: str = Field(min_length=1, max_length=64)
    relationship: ChildRelationship = ChildRelationship.PARENT


class ChildOut(BaseModel):
    person_ref: str = Field(description="The child's pseudonym")
    created: bool
    proxy_id: int


def open_session(
    session: Session, clerk: StaffAccount, person: Person, body: DeskSessionIn, now: dt.datetime
) -> StaffSession:
    if not body.attested:
        raise Unprocessable("the in-person ID check must be attested", code="attestation-required")
    attestation = f"{clerk.subject} checked {body.document_type.value} in person"
    if body.note:
        attestation = f"{attestation}; {body.note}"
    row = StaffSession(
        staff_account_id=clerk.account_id,
        institution_id=clerk.institution_id,
        person_id=person.id,
        document_type=body.document_type.value,
        attestation=attestation[:256],
        expires_at=now + SESSION_LENGTH,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def own_session(session: Session, clerk: StaffAccount, session_id: int, now: dt.datetime) -> StaffSession:
    """One of the clerk's own sessions that is still open (any other is 404 ``desk-session-not-found``)."""
    row = session.scalar(
        select(StaffSession).where(
            StaffSession.id == session_id,
            StaffSession.staff_account_id == clerk.account_id,
            StaffSession.ended_at.is_(None),
            StaffSession.expires_at > now,
        )
    )
    if row is None:
        raise NotFound("no open desk session with that id", code="desk-session-not-found")
    return row


def register_child(
    session: Session, keys: KeyRing, guardian_session: StaffSession, body: ChildIn, now: dt.datetime
) -> tuple[Person, bool, int]:
    """Find or create the child and link the session's person to it as guardian proxy (every right)."""
    national_id = normalize_national_id(body.national_id)
    if not is_valid_national_id(national_id, today=now.date()):
        raise Unprocessable("national ID fails its check digit or date", code="invalid-national-id")
    if age_on(national_id, now.date()) >= ADULT_AGE:
        raise Unprocessable("a guardian registers only a minor", code="not-a-minor")
    child, created = get_or_create_person(session, keys, national_id, body.name)
    guardian = session.get(Person, guardian_session.person_id)
    assert guardian is not None  # the foreign key guarantees the person
    link = add_link(
        session,
        child,
        guardian,
        body.relationship.value,
        frozenset(ProxyRight),
        ActedBy(person_id=None, staff_session_id=guardian_session.id),
        now,
    )
    return child, created, link.id
