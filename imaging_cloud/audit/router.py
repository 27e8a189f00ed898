"""The auditor's API: search events, verify the chain, list checkpoints, export (FHIR Bundle, NDJSON, CSV).

Only auditors pass (``Action.READ_AUDIT`` / ``EXPORT_AUDIT``); every call is itself an audit event, written
with the read in one transaction before the answer leaves.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from auth.policy import Action
from imaging_cloud.access.guards import require_action
from imaging_cloud.audit.chain import format_time
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.fhir import audit_bundle, audit_ndjson
from imaging_cloud.audit.models import AccessEvent, AuditCheckpoint
from imaging_cloud.audit.operations import trusted_keys
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.search import MAX_EXPORT, MAX_PAGE, EventFilter, find_events, pseudonym_of
from imaging_cloud.audit.tabular import audit_csv
from imaging_cloud.audit.verify import verify_chain
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.errors import ERROR_RESPONSES, BadRequest
from imaging_cloud.runtime import Runtime, get_runtime

router = APIRouter(prefix="/audit", tags=["audit"], responses=ERROR_RESPONSES)

_TRAIL = Target(TargetKind.AUDIT_TRAIL, "access-events")


class EventOut(BaseModel):
    seq: int
    occurred_at: str
    actor: str
    actor_role: str | None
    institution: str | None
    acting_for: str | None
    token_id: str | None
    action: str
    target_kind: str | None
    target_id: str | None
    patient: str | None
    decision: str
    reason: str
    basis: str | None
    status: int
    outcome: str
    client_address: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, event: AccessEvent) -> EventOut:
        values = {name: getattr(event, name) for name in cls.model_fields if name != "occurred_at"}
        return cls(occurred_at=format_time(event.occurred_at), **values)


class EventPage(BaseModel):
    events: list[EventOut]
    next_after_seq: int | None
    """Pass as ``after_seq`` for the next page; ``None`` when this page was the last."""


class CheckpointOut(BaseModel):
    seq: int
    hash: str
    created_at: str
    key_id: str
    algorithm: str
    signature: str


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def event_filter(
    actor: Annotated[str | None, Query(max_length=128, description="Token subject, e.g. account:12")] = None,
    institution: Annotated[str | None, Query(max_length=64)] = None,
    action: AuditAction | None = None,
    decision: AuditDecision | None = None,
    basis: Annotated[str | None, Query(max_length=128)] = None,
    patient: Annotated[str | None, Query(max_length=64, description="Person pseudonym")] = None,
    target: Annotated[str | None, Query(max_length=128, description="De-identified UID or other target id")] = None,
    since: Annotated[dt.datetime | None, Query(description="Inclusive; without an offset, UTC")] = None,
    until: Annotated[dt.datetime | None, Query(description="Exclusive; without an offset, UTC")] = None,
) -> EventFilter:
    chosen = EventFilter(
        actor=actor,
        institution=institution,
        action=action.value if action else None,
        decision=decision.value if decision else None,
        basis=basis,
        patient=patient,
        target_id=target,
        since=_utc(since),
        until=_utc(until),
    )
    if chosen.since and chosen.until and chosen.since >= chosen.until:
        raise BadRequest("since must be before until", code="empty-time-range")
    return chosen


Filters = Annotated[EventFilter, Depends(event_filter)]


@router.get("/events", dependencies=[Depends(require_action(Action.READ_AUDIT))])
@audited(AuditAction.READ_AUDIT, target=no_target)
def search_events(
    filters: Filters,
    audit: Audit,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> EventPage:
    """Events matching every given filter, oldest first; page on with ``after_seq``."""
    with audit.transaction() as uow:
        events = find_events(uow.session, filters, after_seq=after_seq, limit=limit)
        page = EventPage(
            events=[EventOut.of(event) for event in events],
            next_after_seq=events[-1].seq if len(events) == limit else None,
        )
        audit.about(_TRAIL)
        details = {"filters": filters.as_details(), "after_seq": after_seq, "results": len(events)}
        audit.allow(uow.session, details=details)
    return page


class PersonSearchIn(BaseModel):
    """Events about one person, named by national ID or health card in the body (never in a URL or a log)."""

    national_id: str | None = Field(default=None, min_length=15, max_length=18)
    health_card: str | None = Field(default=None, min_length=1, max_length=64)
    action: AuditAction | None = None
    decision: AuditDecision | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    after_seq: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)


@router.post("/events/search", dependencies=[Depends(require_action(Action.READ_AUDIT))])
@audited(AuditAction.READ_AUDIT, target=no_target)
def search_events_of_person(
    body: PersonSearchIn, audit: Audit, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> EventPage:
    """Events about the person a national ID or health card names, resolved to the pseudonym server-side.

    An unknown person gives an empty page (the trail cannot hold events about a person the cloud never knew).
    The search is recorded with the pseudonym, never with the identifier it was asked with.
    """
    if bool(body.national_id) == bool(body.health_card):
        raise BadRequest("give exactly one of national_id and health_card", code="one-person-identifier")
    with audit.transaction() as uow:
        pseudonym = pseudonym_of(uow.session, runtime.keys, national_id=body.national_id, health_card=body.health_card)
        filters = event_filter(
            action=body.action, decision=body.decision, patient=pseudonym, since=body.since, until=body.until
        )
        found = find_events(uow.session, filters, after_seq=body.after_seq, limit=body.limit) if pseudonym else []
        page = EventPage(
            events=[EventOut.of(event) for event in found],
            next_after_seq=found[-1].seq if len(found) == body.limit else None,
        )
        audit.about(Target(TargetKind.PERSON, pseudonym) if pseudonym else _TRAIL, patient=pseudonym)
        details = {
            "identified_by": "national_id" if body.national_id else "health_card",
            "person_known": pseudonym is not None,
            "filters": filters.as_details(),
            "after_seq": body.after_seq,
            "results": len(found),
        }
        audit.allow(uow.session, details=details)
    return page


class ExportFormat(StrEnum):
    FHIR = "fhir"
    NDJSON = "ndjson"
    CSV = "csv"


_EXPORT_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/fhir+json": {}, "application/fhir+ndjson": {}, "text/csv": {}},
        "description": "FHIR R4 Bundle of AuditEvent, NDJSON of AuditEvent, or CSV",
    }
}


@router.get("/export", responses=_EXPORT_DOC, dependencies=[Depends(require_action(Action.EXPORT_AUDIT))])
@audited(AuditAction.EXPORT_AUDIT, target=no_target)
def export_events(
    filters: Filters,
    audit: Audit,
    export_format: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.FHIR,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT)] = MAX_EXPORT,
) -> Response:
    """Export matching events (at most ``limit``, page on with ``after_seq``); the export itself is recorded."""
    with audit.transaction() as uow:
        events = find_events(uow.session, filters, after_seq=after_seq, limit=limit)
        if export_format is ExportFormat.CSV:
            response: Response = Response(audit_csv(events), media_type="text/csv; charset=utf-8")
        elif export_format is ExportFormat.NDJSON:
            response = Response(audit_ndjson(events), media_type="application/fhir+ndjson")
        else:
            response = JSONResponse(audit_bundle(events), media_type="application/fhir+json")
        if events:
            response.headers["X-Last-Seq"] = str(events[-1].seq)
        audit.about(_TRAIL)
        details = {
            "format": export_format.value,
            "filters": filters.as_details(),
            "after_seq": after_seq,
            "results": len(events),
        }
        audit.allow(uow.session, details=details)
    return response


@router.get("/verify", dependencies=[Depends(require_action(Action.READ_AUDIT))])
@audited(AuditAction.VERIFY_AUDIT, target=no_target)
def verify(audit: Audit, runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """Recompute the chain, check the head and every signed checkpoint; name the first broken event."""
    with audit.transaction() as uow:
        report = verify_chain(uow.session, trusted_keys(runtime))
        audit.about(_TRAIL)
        summary = {"ok": report.ok, "events_checked": report.events_checked, "findings": len(report.findings)}
        audit.allow(uow.session, details=summary)
    return report.to_dict()


@router.get("/checkpoints", dependencies=[Depends(require_action(Action.READ_AUDIT))])
@audited(AuditAction.READ_AUDIT, target=no_target)
def list_checkpoints(audit: Audit) -> list[CheckpointOut]:
    """Every signed checkpoint (verify with the public keys at ``/.well-known/jwks.json``)."""
    with audit.transaction() as uow:
        checkpoints = uow.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq, AuditCheckpoint.id))
        listed = [
            CheckpointOut(
                seq=c.seq,
                hash=c.hash,
                created_at=format_time(c.created_at),
                key_id=c.key_id,
                algorithm=c.algorithm,
                signature=c.signature,
            )
            for c in checkpoints
        ]
        audit.about(_TRAIL)
        audit.allow(uow.session, details={"checkpoints": len(listed)})
    return listed
