"""The auditor's review of break-glass sessions: every emergency access is listed until an auditor marks it
reviewed with a note.

The doctor's stated reason and the auditor's note are free text that may name the patient, so they live in the
session row (shown to auditors here) and never in the hash-chained events, which record only ids.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from auth.policy import Action
from imaging_cloud.access.facts import account_id_of
from imaging_cloud.access.guards import require_action
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.accounts.models import Account
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.consent.models import BreakGlassSession
from imaging_cloud.errors import ERROR_RESPONSES, Conflict, NotFound
from imaging_cloud.identity.models import Institution, Person

router = APIRouter(
    prefix="/audit/break-glass",
    tags=["audit"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_action(Action.READ_AUDIT))],
)


class BreakGlassOut(BaseModel):
    id: int
    person_ref: str = Field(description="The patient's pseudonym")
    doctor: str = Field(description="The doctor's account username")
    doctor_name: str
    practitioner_id: str | None
    institution: str
    purpose: str
    reason: str = Field(description="The doctor's stated reason (free text; for review only)")
    created_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    reviewed_at: dt.datetime | None
    reviewed_by: str | None
    review_note: str | None


class ReviewIn(BaseModel):
    note: str = Field(min_length=3, max_length=1000, description="What the auditor found (kept off the chain)")


Row = tuple[BreakGlassSession, str, Account, str, str | None]


def _query() -> Select[BreakGlassSession, str, Account, str, str | None]:
    """Each session with its patient's pseudonym, doctor account, institution code and reviewer username."""
    reviewer = aliased(Account)
    doctor = aliased(Account)
    return (
        select(BreakGlassSession, Person.pseudonym, doctor, Institution.code, reviewer.username)
        .join(Person, Person.id == BreakGlassSession.person_id)
        .join(doctor, doctor.id == BreakGlassSession.doctor_account_id)
        .join(Institution, Institution.id == BreakGlassSession.institution_id)
        .outerjoin(reviewer, reviewer.id == BreakGlassSession.reviewed_by_account_id)
    )


def _out(row: Row) -> BreakGlassOut:
    session, pseudonym, doctor, institution, reviewer = row
    return BreakGlassOut(
        id=session.id,
        person_ref=pseudonym,
        doctor=doctor.username,
        doctor_name=doctor.display_name,
        practitioner_id=doctor.practitioner_id,
        institution=institution,
        purpose=session.purpose,
        reason=session.reason,
        created_at=session.created_at,
        expires_at=session.expires_at,
        ended_at=session.ended_at,
        reviewed_at=session.reviewed_at,
        reviewed_by=reviewer,
        review_note=session.review_note,
    )


@router.get("", response_model=list[BreakGlassOut])
@audited(AuditAction.BREAK_GLASS_REVIEW_LIST, target=no_target)
def list_break_glass(
    audit: Audit,
    reviewed: Annotated[bool | None, Query(description="false: only those awaiting review")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[BreakGlassOut]:
    """Break-glass sessions, newest first; by default those no auditor has reviewed yet."""
    audit.about(Target(TargetKind.AUDIT_TRAIL, "break-glass-sessions"))
    query = _query().order_by(BreakGlassSession.created_at.desc(), BreakGlassSession.id.desc()).limit(limit)
    if reviewed is not None:
        query = query.where(
            BreakGlassSession.reviewed_at.is_not(None) if reviewed else BreakGlassSession.reviewed_at.is_(None)
        )
    with audit.transaction() as uow:
        rows = [_out(row) for row in uow.session.execute(query).all()]
        audit.allow(uow.session, details={"results": len(rows), "reviewed": reviewed})
    return rows


@router.post("/{session_id}/review", response_model=BreakGlassOut)
@audited(AuditAction.BREAK_GLASS_REVIEW, target=no_target)
def review_break_glass(
    session_id: Annotated[int, Path(ge=1)], body: ReviewIn, principal: CurrentPrincipal, audit: Audit
) -> BreakGlassOut:
    """Mark one session reviewed with a note; a session is reviewed once (409 after that)."""
    with audit.transaction() as uow:
        row = uow.session.execute(_query().where(BreakGlassSession.id == session_id)).one_or_none()
        if row is None:
            raise NotFound("break-glass session not found", code="break-glass-not-found")
        session, pseudonym = row[0], row[1]
        audit.about(Target(TargetKind.BREAK_GLASS_SESSION, str(session.id)), patient=pseudonym)
        if session.reviewed_at is not None:
            raise Conflict("this session was already reviewed", code="already-reviewed")
        session.reviewed_at = dt.datetime.now(dt.UTC)
        session.reviewed_by_account_id = account_id_of(principal)
        session.review_note = body.note
        uow.session.flush()
        reviewed = uow.session.execute(_query().where(BreakGlassSession.id == session_id)).one()
        audit.allow(uow.session, details={"break_glass_session": session.id})
        out = _out(reviewed)
    return out
