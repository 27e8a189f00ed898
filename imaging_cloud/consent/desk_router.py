"""Service-desk routes: open and end an attested in-person session, register a guardian's child.

While a session is open the clerk uses the person's own consent routes (``/persons/{ref}/codes``, ``/proxies``)
with their own token; the policy allows those acts through the session and records them as staff-assisted.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from auth.policy import Action
from imaging_cloud.access.guards import require_action
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.access.visibility import authorize_person
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.consent.actors import active_account, find_person
from imaging_cloud.consent.desk import ChildIn, ChildOut, DeskSessionIn, DeskSessionOut, open_session, own_session
from imaging_cloud.consent.desk import register_child as register_child_of
from imaging_cloud.consent.router import now_utc
from imaging_cloud.errors import ERROR_RESPONSES
from imaging_cloud.identity.models import Person
from imaging_cloud.runtime import Runtime, get_runtime

router = APIRouter(
    prefix="/desk",
    tags=["service-desk"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_action(Action.ASSIST_IN_PERSON))],
)
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class EndedOut(BaseModel):
    session_id: int
    ended_at: dt.datetime | None


@router.post("/sessions", response_model=DeskSessionOut, status_code=201)
@audited(AuditAction.DESK_SESSION_START, target=no_target)
def post_session(body: DeskSessionIn, principal: CurrentPrincipal, runtime: RuntimeDep, audit: Audit) -> DeskSessionOut:
    """Serve a person in person for 30 minutes, after checking and attesting their identity document."""
    now = now_utc()
    with audit.transaction() as uow:
        clerk = active_account(uow.session, principal)
        person = find_person(uow.session, runtime.keys, national_id=body.national_id)
        row = open_session(uow.session, clerk, person, body, now)
        audit.about(Target(TargetKind.PERSON, person.pseudonym), patient=person.pseudonym)
        audit.allow(
            uow.session, status=201, details={"staff_session": row.id, "document_type": body.document_type.value}
        )
        out = DeskSessionOut(session_id=row.id, person_ref=person.pseudonym, expires_at=row.expires_at)
    return out


@router.post("/sessions/{session_id}/end", response_model=EndedOut)
@audited(AuditAction.DESK_SESSION_END, target=no_target)
def post_session_end(session_id: int, principal: CurrentPrincipal, audit: Audit) -> EndedOut:
    """End one's own open session when the person leaves the desk."""
    now = now_utc()
    with audit.transaction() as uow:
        clerk = active_account(uow.session, principal)
        row = own_session(uow.session, clerk, session_id, now)
        row.ended_at = now
        person = uow.session.get_one(Person, row.person_id)
        audit.about(Target(TargetKind.PERSON, person.pseudonym), patient=person.pseudonym)
        audit.allow(uow.session, details={"staff_session": row.id})
        out = EndedOut(session_id=row.id, ended_at=now)
    return out


@router.post("/sessions/{session_id}/children", response_model=ChildOut, status_code=201)
@audited(AuditAction.DESK_REGISTER_CHILD, target=no_target)
def post_child(
    session_id: int, body: ChildIn, principal: CurrentPrincipal, runtime: RuntimeDep, audit: Audit
) -> ChildOut:
    """Register the session's person as guardian of a minor (every proxy right); the child is created if new."""
    now = now_utc()
    with audit.transaction() as uow:
        clerk = active_account(uow.session, principal)
        row = own_session(uow.session, clerk, session_id, now)
        guardian = uow.session.get_one(Person, row.person_id)
        access = authorize_person(uow.session, principal, Action.MANAGE_PROXIES, guardian.pseudonym)
        child, created, link_id = register_child_of(uow.session, runtime.keys, row, body, now)
        audit.about(Target(TargetKind.PERSON, child.pseudonym), patient=child.pseudonym)
        audit.allow(
            uow.session,
            decision=access.decision,
            status=201,
            details={
                "guardian": guardian.pseudonym,
                "proxy_link": link_id,
                "created": created,
                "staff_session": row.id,
                "relationship": body.relationship.value,
            },
        )
        out = ChildOut(person_ref=child.pseudonym, created=created, proxy_id=link_id)
    return out
