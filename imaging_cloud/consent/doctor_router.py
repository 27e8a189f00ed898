"""A doctor's consent routes: redeem a patient's one-time code, break the glass, list current patients.

Each is guarded by the policy's role rule (``require_action``) and tied to the doctor's active account: the
sessions they open are facts about that account, which the next request's ``load_facts`` finds.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from auth.policy import Action
from auth.principals import Role
from imaging_cloud.access.facts import load_facts
from imaging_cloud.access.guards import require_action
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.consent.actors import active_account, find_person
from imaging_cloud.consent.break_glass import BreakGlassIn, BreakGlassOut, end_own_session, open_session
from imaging_cloud.consent.codes import RedeemIn, redeem
from imaging_cloud.consent.doctor_patients import DoctorPatientOut, current_patients
from imaging_cloud.consent.router import now_utc
from imaging_cloud.consent.scopes import ScopeOut, scope_details
from imaging_cloud.errors import ERROR_RESPONSES, Forbidden
from imaging_cloud.identity.models import Person
from imaging_cloud.runtime import Runtime, get_runtime

router = APIRouter(prefix="/doctor", tags=["doctor"], responses=ERROR_RESPONSES)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class CodeSessionOut(BaseModel):
    person_ref: str
    session_id: int
    expires_at: dt.datetime
    scope: ScopeOut


class EndedOut(BaseModel):
    session_id: int
    ended_at: dt.datetime | None


@router.post(
    "/codes/redeem",
    response_model=CodeSessionOut,
    dependencies=[Depends(require_action(Action.REDEEM_CODE))],
    responses={410: {"description": "The code was used, expired, revoked or locked"}, 429: {"description": "Rate"}},
)
@audited(AuditAction.CODE_REDEEM, target=no_target)
def post_redeem(body: RedeemIn, principal: CurrentPrincipal, runtime: RuntimeDep, audit: Audit) -> CodeSessionOut:
    """Use a patient's one-time code: a time-boxed session on the studies the patient chose."""
    now = now_utc()
    with audit.transaction() as uow:
        doctor = active_account(uow.session, principal)
        redeemed = redeem(uow.session, runtime.units, runtime.keys, doctor.account_id, body.code, now)
        audit.about(Target(TargetKind.PERSON, redeemed.person_ref), patient=redeemed.person_ref)
        audit.allow(
            uow.session,
            details={
                "code": redeemed.code.public_id,
                "code_session": redeemed.session.id,
                **scope_details(redeemed.scope),
            },
        )
        out = CodeSessionOut(
            person_ref=redeemed.person_ref,
            session_id=redeemed.session.id,
            expires_at=redeemed.session.expires_at,
            scope=ScopeOut.of(redeemed.scope),
        )
    return out


@router.post(
    "/break-glass",
    response_model=BreakGlassOut,
    status_code=201,
    dependencies=[Depends(require_action(Action.BREAK_GLASS))],
)
@audited(AuditAction.BREAK_GLASS, target=no_target)
def post_break_glass(
    body: BreakGlassIn, principal: CurrentPrincipal, runtime: RuntimeDep, audit: Audit
) -> BreakGlassOut:
    """Emergency access to one person's studies: audited, flagged for review, and shown to the patient."""
    now = now_utc()
    length = dt.timedelta(minutes=runtime.settings.break_glass_minutes)
    with audit.transaction() as uow:
        doctor = active_account(uow.session, principal)
        person = find_person(uow.session, runtime.keys, national_id=body.national_id, health_card=body.health_card)
        row = open_session(uow.session, doctor, person, body, length, now)
        audit.about(Target(TargetKind.PERSON, person.pseudonym), patient=person.pseudonym)
        # The free-text reason stays in the session row: it may name a condition or a person.
        audit.allow(
            uow.session,
            status=201,
            details={"break_glass_session": row.id, "purpose": row.purpose, "expires_at": row.expires_at.isoformat()},
        )
        out = BreakGlassOut(person_ref=person.pseudonym, session_id=row.id, expires_at=row.expires_at)
    return out


@router.post(
    "/break-glass/{session_id}/end",
    response_model=EndedOut,
    dependencies=[Depends(require_action(Action.BREAK_GLASS))],
)
@audited(AuditAction.BREAK_GLASS_END, target=no_target)
def post_break_glass_end(session_id: int, principal: CurrentPrincipal, audit: Audit) -> EndedOut:
    """End one's own emergency session before it times out."""
    now = now_utc()
    with audit.transaction() as uow:
        doctor = active_account(uow.session, principal)
        row = end_own_session(uow.session, doctor, session_id, now)
        person = uow.session.get_one(Person, row.person_id)
        audit.about(Target(TargetKind.PERSON, person.pseudonym), patient=person.pseudonym)
        audit.allow(uow.session, details={"break_glass_session": row.id, "ended_now": row.ended_at == now})
        out = EndedOut(session_id=row.id, ended_at=row.ended_at)
    return out


@router.get("/patients", response_model=list[DoctorPatientOut], dependencies=[Depends(require_action(Action.SEARCH))])
@audited(AuditAction.DOCTOR_PATIENTS, target=no_target)
def get_patients(principal: CurrentPrincipal, audit: Audit) -> list[DoctorPatientOut]:
    """The persons the doctor has a grant, code session or break-glass session for right now."""
    if principal.role is not Role.DOCTOR:
        raise Forbidden("only doctors have patients here", code="doctors-only")
    now = now_utc()
    with audit.transaction() as uow:
        patients = current_patients(principal, load_facts(uow.session, principal, now), now)
        audit.allow(uow.session, details={"count": len(patients)})
    return patients
