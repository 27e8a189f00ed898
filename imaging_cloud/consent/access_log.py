""" "Who viewed my data" and "how was this grant used": pages of audit events, filtered and paged in SQL.

Events are read newest first with keyset paging on ``seq`` (``before``: the last ``seq`` of the previous page).
Each is shown with what a person can recognize — the institution's name, a doctor's display name and practitioner
id — and never with an identifier or free text: the trail holds none, and nothing is added here but names of
accounts and institutions.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from imaging_cloud.accounts.models import Account
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.consent.plain_language import summarize
from imaging_cloud.identity.models import Institution

DEFAULT_PAGE = 50
MAX_PAGE = 200


class EventOut(BaseModel):
    seq: int
    occurred_at: dt.datetime
    actor_role: str | None
    institution: str | None = Field(description="Code of the actor's institution")
    institution_name: str | None = None
    doctor: str | None = Field(default=None, description="Display name of the actor's account (doctor, clerk)")
    practitioner_id: str | None = None
    via_proxy: bool = Field(description="A family member acted for the person")
    action: str
    decision: str
    status: int
    basis: str | None
    target_kind: str | None
    target_id: str | None
    summary: str = Field(description="The event in one plain Chinese sentence (who, when, what, on which basis)")


class EventPage(BaseModel):
    events: list[EventOut]
    next_before: int | None = Field(description="Pass as ``before`` for the next (older) page; null at the end")


def _account_id(actor: str) -> int | None:
    prefix, _, number = actor.partition(":")
    return int(number) if prefix == "account" and number.isdigit() else None


def page_events(
    session: Session, conditions: list[ColumnElement[bool]], *, before: int | None, limit: int
) -> EventPage:
    """Events matching every condition, ``seq < before``, newest first, at most ``limit``."""
    query = select(AccessEvent).where(*conditions)
    if before is not None:
        query = query.where(AccessEvent.seq < before)
    events = list(session.scalars(query.order_by(AccessEvent.seq.desc()).limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    account_ids = {i for i in (_account_id(e.actor) for e in events) if i is not None}
    accounts = (
        {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(sorted(account_ids))))}
        if account_ids
        else {}
    )
    codes = sorted({e.institution for e in events if e.institution})
    rows = session.execute(select(Institution.code, Institution.name).where(Institution.code.in_(codes)))
    names: dict[str, str] = {row.code: row.name for row in rows}
    shown = []
    for event in events:
        account_id = _account_id(event.actor)
        account = accounts.get(account_id) if account_id is not None else None
        institution_name = names.get(event.institution) if event.institution else None
        doctor = (account.display_name or account.username) if account is not None else None
        shown.append(
            EventOut(
                seq=event.seq,
                occurred_at=event.occurred_at,
                actor_role=event.actor_role,
                institution=event.institution,
                institution_name=institution_name,
                doctor=doctor,
                practitioner_id=account.practitioner_id if account is not None else None,
                via_proxy=event.acting_for is not None,
                action=event.action,
                decision=event.decision,
                status=event.status,
                basis=event.basis,
                target_kind=event.target_kind,
                target_id=event.target_id,
                summary=summarize(
                    occurred_at=event.occurred_at,
                    actor_role=event.actor_role,
                    institution_name=institution_name,
                    doctor=doctor,
                    action=event.action,
                    decision=event.decision,
                    basis=event.basis,
                ),
            )
        )
    return EventPage(events=shown, next_before=events[-1].seq if more and events else None)


def about_person(person_ref: str, *, others_only: bool) -> list[ColumnElement[bool]]:
    """Events about the person's data; ``others_only`` leaves out what the person did while signed in."""
    conditions = [AccessEvent.patient == person_ref]
    if others_only:
        conditions.append(AccessEvent.actor != f"person:{person_ref}")
    return conditions


def uses_of_grant(grant_id: int) -> list[ColumnElement[bool]]:
    """Events whose access rested on the grant."""
    return [AccessEvent.basis == f"grant:{grant_id}"]
