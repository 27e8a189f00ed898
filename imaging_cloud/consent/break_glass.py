"""Break-glass: a doctor in an emergency opens time-boxed access to one person's studies, stating why.

The coded purpose goes into the audit trail; the free-text reason (which may name a condition or a person) is
kept only in the session row, for the auditor's review and for the patient, who sees every such session.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from imaging_cloud.accounts.models import Account
from imaging_cloud.consent.actors import StaffAccount
from imaging_cloud.consent.models import BreakGlassSession
from imaging_cloud.consent.proxies import IdentifierIn
from imaging_cloud.errors import NotFound
from imaging_cloud.identity.models import Institution, Person

WARNING = "audited, the patient is told"


class Purpose(StrEnum):
    EMERGENCY_TREATMENT = "emergency-treatment"
    UNCONSCIOUS_PATIENT = "unconscious-patient"
    OTHER = "other"


class BreakGlassIn(IdentifierIn):
    purpose: Purpose
    reason: str = Field(min_length=10, max_length=1000)


class BreakGlassOut(BaseModel):
    person_ref: str
    session_id: int
    expires_at: dt.datetime
    warning: str = WARNING


class BreakGlassView(BaseModel):
    """A session as the patient sees it."""

    id: int
    doctor: str
    practitioner_id: str | None
    institution: str
    institution_name: str
    purpose: str
    reason: str
    created_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    reviewed_at: dt.datetime | None


def open_session(
    session: Session, doctor: StaffAccount, person: Person, body: BreakGlassIn, length: dt.timedelta, now: dt.datetime
) -> BreakGlassSession:
    row = BreakGlassSession(
        doctor_account_id=doctor.account_id,
        institution_id=doctor.institution_id,
        person_id=person.id,
        purpose=body.purpose.value,
        reason=body.reason,
        expires_at=now + length,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def end_own_session(session: Session, doctor: StaffAccount, session_id: int, now: dt.datetime) -> BreakGlassSession:
    """End one of the doctor's own sessions (ending an ended or expired one changes nothing)."""
    row = session.scalar(
        select(BreakGlassSession).where(
            BreakGlassSession.id == session_id, BreakGlassSession.doctor_account_id == doctor.account_id
        )
    )
    if row is None:
        raise NotFound("no break-glass session with that id", code="break-glass-not-found")
    if row.ended_at is None and now < row.expires_at:
        row.ended_at = now
        session.flush()
    return row


def sessions_of_person(session: Session, person_id: int) -> list[BreakGlassView]:
    rows = session.execute(
        select(BreakGlassSession, Account, Institution)
        .join(Account, Account.id == BreakGlassSession.doctor_account_id)
        .join(Institution, Institution.id == BreakGlassSession.institution_id)
        .where(BreakGlassSession.person_id == person_id)
        .order_by(BreakGlassSession.id.desc())
    ).all()
    return [
        BreakGlassView(
            id=row.id,
            doctor=account.display_name or account.username,
            practitioner_id=account.practitioner_id,
            institution=institution.code,
            institution_name=institution.name,
            purpose=row.purpose,
            reason=row.reason,
            created_at=row.created_at,
            expires_at=row.expires_at,
            ended_at=row.ended_at,
            reviewed_at=row.reviewed_at,
        )
        for row, account, institution in rows
    ]
