"""STOW-RS (PS3.18 §10.5): ``POST /dicomweb/studies[/{study}]`` with ``multipart/related; type="application/dicom"``.

Every part is spooled (bounded memory), then ingested on a worker thread; the response lists each instance in
ReferencedSOPSequence or FailedSOPSequence with a reason. 200 = all stored, 202 = some failed, 409 = none stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

import deidentify
from auth.policy import Action
from imaging_cloud.access.guards import InstitutionOfPrincipal, require_action
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.dicomweb.media_types import MediaType
from imaging_cloud.dicomweb.multipart_upload import receive_parts
from imaging_cloud.dicomweb.urls import ResourceUrls
from imaging_cloud.errors import ERROR_RESPONSES, BadRequest, UnsupportedMediaType
from imaging_cloud.ingest.outcome import Failed, FailureReason, Outcome, Stored
from imaging_cloud.runtime import Runtime, get_runtime

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"], responses=ERROR_RESPONSES)

DICOM_JSON = "application/dicom+json"


def _referenced(outcome: Stored, base_url: str) -> dict[str, Any]:
    url = f"{base_url}/studies/{outcome.study_uid}/series/{outcome.series_uid}/instances/{outcome.sop_uid}"
    return {
        "00081150": {"vr": "UI", "Value": [outcome.sop_class_uid]},
        "00081155": {"vr": "UI", "Value": [outcome.sop_uid]},
        "00081190": {"vr": "UR", "Value": [url]},
    }


def _failed(outcome: Failed) -> dict[str, Any]:
    item: dict[str, Any] = {
        "00081197": {"vr": "US", "Value": [outcome.reason.status]},
        "00000902": {"vr": "LO", "Value": [f"{outcome.reason.slug}: {outcome.detail}"[:64]]},
    }
    if outcome.sop_class_uid:
        item["00081150"] = {"vr": "UI", "Value": [outcome.sop_class_uid]}
    if outcome.sop_uid:
        item["00081155"] = {"vr": "UI", "Value": [outcome.sop_uid]}
    return item


def stow_response(outcomes: list[Outcome], base_url: str, study_uid: str | None) -> JSONResponse:
    stored = [o for o in outcomes if isinstance(o, Stored)]
    failed = [o for o in outcomes if isinstance(o, Failed)]
    body: dict[str, Any] = {}
    retrieve_study = study_uid or (stored[0].study_uid if stored and len({o.study_uid for o in stored}) == 1 else None)
    if retrieve_study:
        body["00081190"] = {"vr": "UR", "Value": [f"{base_url}/studies/{retrieve_study}"]}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": [_referenced(o, base_url) for o in stored]}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [_failed(o) for o in failed]}
    status = 200 if not failed else (202 if stored else 409)
    return JSONResponse(body, status_code=status, media_type=DICOM_JSON)


#: Per-instance outcomes listed in the request's audit event; beyond this many they are only counted.
_MAX_LISTED_OUTCOMES = 1000


def audit_details(outcomes: list[Outcome]) -> dict[str, Any]:
    """Counts and per-instance outcomes for the audit event: de-identified UIDs of what was stored, only the
    reason of what failed (a failed instance's UIDs are the hospital's originals and stay out of the trail)."""
    listed: list[dict[str, Any]] = []
    reasons: dict[str, int] = {}
    for outcome in outcomes:
        if isinstance(outcome, Stored):
            entry = {"outcome": "already-present" if outcome.already_present else "stored", "sop": outcome.sop_uid}
        else:
            reasons[outcome.reason.slug] = reasons.get(outcome.reason.slug, 0) + 1
            entry = {"outcome": "failed", "reason": outcome.reason.slug}
        if len(listed) < _MAX_LISTED_OUTCOMES:
            listed.append(entry)
    stored = [o for o in outcomes if isinstance(o, Stored)]
    return {
        "instances": len(outcomes),
        "stored": sum(not o.already_present for o in stored),
        "already_present": sum(o.already_present for o in stored),
        "failed": len(outcomes) - len(stored),
        "failure_reasons": reasons,
        "studies": sorted({o.study_uid for o in stored}),
        "outcomes": listed,
    }


def stow_target(path_params: Mapping[str, str], runtime: Runtime) -> Target | None:
    """The study in a STOW URL is the hospital's original UID: the trail names it by its de-identified UID."""
    study = path_params.get("study")
    if not study:
        return None
    return Target(TargetKind.STUDY, deidentify.remap_uid(study, runtime.keys.uid_key)[:64])


async def _store(
    request: Request, runtime: Runtime, audit: Audit, institution_id: int, study_uid: str | None
) -> JSONResponse:
    media = MediaType.parse(request.headers.get("content-type", ""))
    if media.type != "multipart/related":
        raise UnsupportedMediaType(
            'STOW-RS takes multipart/related; type="application/dicom"', code="unsupported-media-type"
        )
    part_type = media.params.get("type", "application/dicom").lower()
    if part_type != "application/dicom":
        raise UnsupportedMediaType("only application/dicom parts are supported", code="unsupported-part-type")
    boundary = media.params.get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise BadRequest("the multipart boundary is missing or invalid", code="missing-boundary")
    settings = runtime.settings
    try:
        parts = await receive_parts(
            request.stream(),
            boundary,
            memory_limit=settings.spool_memory_bytes,
            max_part_bytes=settings.max_part_bytes,
            max_request_bytes=settings.max_request_bytes,
            memory_budget=settings.spool_request_memory_bytes,
        )
    except ClientDisconnect:
        logger.info("STOW-RS client disconnected before the body ended; nothing stored")
        raise BadRequest("the client disconnected before the body ended", code="client-disconnected") from None
    outcomes: list[Outcome] = []
    try:
        for part in parts:
            if part.content_type and MediaType.parse(part.content_type).type != "application/dicom":
                outcomes.append(Failed(FailureReason.CANNOT_UNDERSTAND, "part is not application/dicom"))
                continue
            outcomes.append(
                await run_in_threadpool(
                    runtime.ingestor.ingest,
                    part.file,
                    institution_id=institution_id,
                    expected_study_uid=study_uid,
                )
            )
    finally:
        for part in parts:
            part.close()
    stored = sum(isinstance(o, Stored) for o in outcomes)
    logger.info("STOW-RS: %d stored, %d failed", stored, len(outcomes) - stored)
    response = stow_response(outcomes, ResourceUrls.of(request).base, study_uid)
    details = audit_details(outcomes)
    studies: list[str] = details["studies"]
    if study_uid is None and len(studies) == 1:
        audit.about(Target(TargetKind.STUDY, studies[0]))
    # Each instance committed in its own unit of work; the request's event is written before the answer.
    await run_in_threadpool(
        audit.record,
        status=response.status_code,
        outcome=_OUTCOMES.get(response.status_code, "ok"),
        study_uid=studies[0] if len(studies) == 1 else None,
        details=details,
    )
    return response


_OUTCOMES = {202: "some-failed", 409: "none-stored"}

_STOW_DOC: dict[int | str, dict[str, Any]] = {
    200: {"description": "All instances stored (DICOM JSON with ReferencedSOPSequence)"},
    202: {"description": "Some instances stored, some failed (FailedSOPSequence with reasons)"},
    409: {"description": "No instance stored (FailedSOPSequence with reasons)"},
}


@router.post("/studies", responses=_STOW_DOC, dependencies=[Depends(require_action(Action.UPLOAD))])
@audited(AuditAction.UPLOAD, target=stow_target)
async def store_instances(
    request: Request,
    institution: InstitutionOfPrincipal,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    audit: Audit,
) -> JSONResponse:
    return await _store(request, runtime, audit, institution.id, None)


@router.post("/studies/{study}", responses=_STOW_DOC, dependencies=[Depends(require_action(Action.UPLOAD))])
@audited(AuditAction.UPLOAD, target=stow_target)
async def store_study_instances(
    study: str,
    request: Request,
    institution: InstitutionOfPrincipal,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    audit: Audit,
) -> JSONResponse:
    return await _store(request, runtime, audit, institution.id, study)
