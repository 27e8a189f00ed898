"""The auditor's review queue: list flags computed from the chain, mark one reviewed with a note.

Only auditors pass. Listing is a ``flag-list`` event (filters and the count); a review is a ``flag-review`` event
naming the flag id and the person it is about, written in the transaction that stores the review. The note is free
text and stays in ``audit_flag_reviews``, off the chain.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from auth.policy import Action
from imaging_cloud.access.guards import require_action
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.flags import MAX_PAGE, Flag, FlagFilter, FlagKind, FlagRules, find_flag, find_flags
from imaging_cloud.audit.models import AuditFlagReview
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.errors import ERROR_RESPONSES, BadRequest, Conflict, NotFound
from imaging_cloud.runtime import Runtime, get_runtime

router = APIRouter(
    prefix="/audit/flags",
    tags=["audit"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_action(Action.READ_AUDIT))],
)

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class FlagOut(BaseModel):
    id: str = Field(description="Stable id: ``<kind>.<key>``")
    kind: FlagKind
    actor: str = Field(description="Token subject of the actor (or the first actor of a break-glass session)")
    institution: str | None
    patient: str | None = Field(description="Pseudonym of the person, when the flag is about one person")
    first_seq: int
    last_seq: int
    first_at: dt.datetime
    last_at: dt.datetime
    events: int
    patients: int = Field(description="Distinct persons among the flag's events")
    studies: int = Field(description="Distinct studies among the flag's events")
    reviewed: bool
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    note: str | None = Field(description="The auditor's note (free text; never on the chain)")

    @classmethod
    def of(cls, flag: Flag) -> FlagOut:
        return cls(
            id=flag.id,
            kind=flag.kind,
            actor=flag.actor,
            institution=flag.institution,
            patient=flag.patient,
            first_seq=flag.first_seq,
            last_seq=flag.last_seq,
            first_at=flag.first_at,
            last_at=flag.last_at,
            events=flag.events,
            patients=flag.patients,
            studies=flag.studies,
            reviewed=flag.reviewed_at is not None,
            reviewed_by=flag.reviewed_by,
            reviewed_at=flag.reviewed_at,
            note=flag.note,
        )


class FlagPage(BaseModel):
    flags: list[FlagOut]
    next_before_seq: int | None = Field(description="With ``next_before_id``: pass both for the next page")
    next_before_id: str | None


class FlagReviewIn(BaseModel):
    note: str = Field(min_length=3, max_length=1000, description="What the auditor found (kept off the chain)")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@router.get("")
@audited(AuditAction.FLAG_LIST, target=no_target)
def list_flags(
    audit: Audit,
    runtime: RuntimeDep,
    kind: Annotated[list[FlagKind] | None, Query(description="One or more kinds; all when absent")] = None,
    reviewed: Annotated[bool | None, Query(description="false: awaiting review; true: reviewed")] = None,
    since: Annotated[dt.datetime | None, Query(description="Flags whose last event is at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="Flags whose first event is before")] = None,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
    before_id: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> FlagPage:
    """Flags, most recent first (by their last event); page on with ``before_seq`` and ``before_id``."""
    if (before_seq is None) != (before_id is None):
        raise BadRequest("give both before_seq and before_id, or neither", code="incomplete-cursor")
    where = FlagFilter(
        kinds=tuple(dict.fromkeys(kind)) if kind else tuple(FlagKind),
        reviewed=reviewed,
        since=_utc(since),
        until=_utc(until),
    )
    if where.since and where.until and where.since >= where.until:
        raise BadRequest("since must be before until", code="empty-time-range")
    before = (before_seq, before_id) if before_seq is not None and before_id is not None else None
    rules = FlagRules.of(runtime.settings)
    with audit.transaction() as uow:
        flags = find_flags(uow.session, rules, where, before=before, limit=limit)
        audit.about(Target(TargetKind.AUDIT_TRAIL, "audit-flags"))
        details = {"filters": where.as_details(), "rules": rules.as_details(), "results": len(flags)}
        audit.allow(uow.session, details=details)
    last = flags[-1] if len(flags) == limit else None
    return FlagPage(
        flags=[FlagOut.of(flag) for flag in flags],
        next_before_seq=last.last_seq if last else None,
        next_before_id=last.id if last else None,
    )


@router.post("/{flag_id}/review")
@audited(AuditAction.FLAG_REVIEW, target=no_target)
def review_flag(
    flag_id: Annotated[str, Path(max_length=256)],
    body: FlagReviewIn,
    principal: CurrentPrincipal,
    audit: Audit,
    runtime: RuntimeDep,
) -> FlagOut:
    """Mark one flag reviewed with a note; a flag is reviewed once (409 after that)."""
    rules = FlagRules.of(runtime.settings)
    with audit.transaction() as uow:
        flag = find_flag(uow.session, rules, flag_id)
        if flag is None:
            raise NotFound("no such flag", code="flag-not-found")
        audit.about(Target(TargetKind.AUDIT_FLAG, flag.id), patient=flag.patient)
        if flag.reviewed_at is not None:
            raise Conflict("this flag was already reviewed", code="already-reviewed")
        review = AuditFlagReview(
            flag_id=flag.id,
            kind=flag.kind.value,
            reviewed_by=principal.subject,
            reviewed_at=dt.datetime.now(dt.UTC),
            note=body.note,
        )
        uow.session.add(review)
        try:
            uow.session.flush()
        except IntegrityError:  # a concurrent review of the same flag won
            raise Conflict("this flag was already reviewed", code="already-reviewed") from None
        audit.allow(uow.session, details={"flag": flag.kind.value, "events": flag.events})
        out = FlagOut.of(flag).model_copy(
            update={
                "reviewed": True,
                "reviewed_by": review.reviewed_by,
                "reviewed_at": review.reviewed_at,
                "note": review.note,
            }
        )
    return out
