"""Standing grants a person gives one doctor or a whole institution: create, list with state, revoke.

A grant names an active doctor account (by username) or an institution (by code), a scope, a purpose and an
expiry (30 days unless said otherwise, a year at most). Revoking sets ``revoked_at``; the facts loader drops
revoked grants, so the doctor's very next request no longer sees the studies.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from auth.principals import Role
from imaging_cloud.accounts.models import Account
from imaging_cloud.consent.actors import ActedBy
from imaging_cloud.consent.models import Grant
from imaging_cloud.consent.scopes import ScopeIn, ScopeOut, check_studies_belong, store_scope
from imaging_cloud.errors import NotFound, Unprocessable
from imaging_cloud.identity.models import Institution, Person

DEFAULT_DAYS = 30
MAX_DAYS = 365


class Purpose(StrEnum):
    TREATMENT = "treatment"
    SECOND_OPINION = "second-opinion"
    REFERRAL = "referral"
    CONTINUITY_OF_CARE = "continuity-of-care"
    OTHER = "other"


class State(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class GranteeIn(BaseModel):
    """Exactly one of: a doctor's account username, an institution code."""

    doctor: str | None = Field(default=None, min_length=1, max_length=128)
    institution: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _exactly_one(self) -> GranteeIn:
        if (self.doctor is None) == (self.institution is None):
            raise ValueError("name exactly one grantee: a doctor or an institution")
        return self


class GrantIn(BaseModel):
    grantee: GranteeIn
    scope: ScopeIn = Field(default_factory=ScopeIn)
    purpose: Purpose
    expires_at: dt.datetime | None = None
    days: int | None = Field(default=None, ge=1, le=MAX_DAYS)


class GranteeOut(BaseModel):
    kind: str = Field(description="doctor or institution")
    institution: str = Field(description="The doctor's institution, or the institution granted, by code")
    institution_name: str
    doctor: str | None = Field(default=None, description="The doctor's display name")
    practitioner_id: str | None = None


class GrantOut(BaseModel):
    id: int
    grantee: GranteeOut
    scope: ScopeOut
    purpose: str
    state: State
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None = None


def expiry(now: dt.datetime, expires_at: dt.datetime | None, days: int | None) -> dt.datetime:
    """When a new grant ends: ``expires_at`` (in the future, within a year) or ``days`` from now (default 30)."""
    if expires_at is not None and days is not None:
        raise Unprocessable("give expires_at or days, not both", code="invalid-expiry")
    if expires_at is None:
        return now + dt.timedelta(days=days or DEFAULT_DAYS)
    if expires_at.tzinfo is None:
        raise Unprocessable("expires_at needs a time zone", code="invalid-expiry")
    if not now < expires_at <= now + dt.timedelta(days=MAX_DAYS):
        raise Unprocessable("expires_at must be in the future and within a year", code="invalid-expiry")
    return expires_at


def _grantee(session: Session, grantee: GranteeIn) -> tuple[int | None, int | None]:
    """(doctor account id, institution id); the doctor must hold an active doctor account."""
    if grantee.doctor is not None:
        account_id = session.scalar(
            select(Account.id).where(
                Account.username == grantee.doctor, Account.role == Role.DOCTOR.value, Account.active.is_(True)
            )
        )
        if account_id is None:
            raise Unprocessable("the grantee is not an active doctor account", code="grantee-not-a-doctor")
        return account_id, None
    institution_id = session.scalar(select(Institution.id).where(Institution.code == grantee.institution))
    if institution_id is None:
        raise Unprocessable("no institution has that code", code="grantee-institution-not-found")
    return None, institution_id


def create_grant(session: Session, person: Person, body: GrantIn, acted: ActedBy, now: dt.datetime) -> Grant:
    scope = body.scope.to_scope()
    check_studies_belong(session, scope, person.id)
    account_id, institution_id = _grantee(session, body.grantee)
    grant = Grant(
        person_id=person.id,
        grantee_account_id=account_id,
        grantee_institution_id=institution_id,
        purpose=body.purpose.value,
        expires_at=expiry(now, body.expires_at, body.days),
        created_at=now,
    )
    store_scope(grant, scope)
    acted.stamp(grant)
    session.add(grant)
    session.flush()
    return grant


def state_of(grant: Grant, now: dt.datetime) -> State:
    if grant.revoked_at is not None:
        return State.REVOKED
    return State.ACTIVE if now < grant.expires_at else State.EXPIRED


def grantee_subject(grant: Grant) -> str:
    """The grantee for an audit event: the doctor's account subject or the institution (no names)."""
    if grant.grantee_account_id is not None:
        return f"account:{grant.grantee_account_id}"
    return f"institution:{grant.grantee_institution_id}"


def list_grants(session: Session, person_id: int, now: dt.datetime, grant_id: int | None = None) -> list[GrantOut]:
    """The person's grants, newest first, each with its grantee's institution and (for a doctor) display name."""
    doctor_institution = aliased(Institution)
    granted_institution = aliased(Institution)
    query = (
        select(Grant, Account, doctor_institution, granted_institution)
        .outerjoin(Account, Account.id == Grant.grantee_account_id)
        .outerjoin(doctor_institution, doctor_institution.id == Account.institution_id)
        .outerjoin(granted_institution, granted_institution.id == Grant.grantee_institution_id)
        .where(Grant.person_id == person_id)
        .order_by(Grant.id.desc())
    )
    if grant_id is not None:
        query = query.where(Grant.id == grant_id)
    found = []
    for grant, account, of_doctor, granted in session.execute(query).all():
        institution = of_doctor if account is not None else granted
        grantee = GranteeOut(
            kind="doctor" if account is not None else "institution",
            institution=institution.code if institution else "",
            institution_name=institution.name if institution else "",
            doctor=account.display_name or account.username if account is not None else None,
            practitioner_id=account.practitioner_id if account is not None else None,
        )
        found.append(
            GrantOut(
                id=grant.id,
                grantee=grantee,
                scope=ScopeOut.of_row(grant),
                purpose=grant.purpose,
                state=state_of(grant, now),
                created_at=grant.created_at,
                expires_at=grant.expires_at,
                revoked_at=grant.revoked_at,
            )
        )
    return found


def grant_of_person(session: Session, person_id: int, grant_id: int) -> Grant:
    """One of the person's grants; another person's grant is as absent as a missing one (404)."""
    grant = session.scalar(select(Grant).where(Grant.id == grant_id, Grant.person_id == person_id))
    if grant is None:
        raise NotFound("grant not found", code="grant-not-found")
    return grant


def revoke_grant(session: Session, grant: Grant, acted: ActedBy, now: dt.datetime) -> bool:
    """Revoke now; ``False`` if it was already revoked (revoking twice changes nothing)."""
    if grant.revoked_at is not None:
        return False
    grant.revoked_at = now
    grant.revoked_by_person_id = acted.person_id
    session.flush()
    return True
