"""Report routes: upload (hospital), list a study's reports, and stream one report's de-identified bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from auth.policy import Action
from imaging_cloud.access.guards import InstitutionOfPrincipal, require_action
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.access.visibility import authorize_study
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.errors import ERROR_RESPONSES, BadRequest, ServiceUnavailable, Unprocessable
from imaging_cloud.reports.service import ReportInfo, ReportService, ReportStatus, ReportUpload
from imaging_cloud.reports.upload_form import read_report_form
from imaging_cloud.runtime import Runtime, get_runtime
from imaging_cloud.storage.protocol import ObjectNotFound

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)

STREAM_CHUNK = 256 * 1024


class ReportOut(BaseModel):
    """A stored report; every identifier in it is de-identified (keyed UIDs, scrubbed title)."""

    report_uid: str = Field(description="Keyed hash of the uploading institution and its report id")
    study_uid: str = Field(description="The de-identified StudyInstanceUID")
    kind: str = Field(description="pdf, text, sr or encapsulated-pdf")
    content_type: str
    title: str
    status: str
    size: int
    sha256: str
    created_at: dt.datetime
    url: str = Field(description="Where the report's bytes are retrieved")

    @classmethod
    def of(cls, report: ReportInfo) -> ReportOut:
        return cls(
            report_uid=report.report_uid,
            study_uid=report.study_uid,
            kind=report.kind,
            content_type=report.content_type,
            title=report.title,
            status=report.status,
            size=report.size,
            sha256=report.sha256,
            created_at=report.created_at,
            url=f"/reports/{report.report_uid}",
        )


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["study_instance_uid", "report_id", "file"],
                    "properties": {
                        "study_instance_uid": {
                            "type": "string",
                            "description": "The hospital's StudyInstanceUID (with link_token: its keyed UID)",
                        },
                        "report_id": {"type": "string", "maxLength": 64, "description": "The hospital's report id"},
                        "title": {"type": "string", "maxLength": 256},
                        "status": {"type": "string", "enum": [s.value for s in ReportStatus], "default": "final"},
                        "link_token": {
                            "type": "string",
                            "description": "Locally de-identified report: the patient's link token (LT-…); "
                            "study_instance_uid is then the hospital-keyed UID and report_id a keyed hash",
                        },
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "application/pdf, text/plain (UTF-8 or GB18030) or application/dicom "
                            "(SR or Encapsulated PDF)",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportOut,
    dependencies=[Depends(require_action(Action.UPLOAD_REPORT))],
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {"model": ReportOut, "description": "This report id was stored before (idempotent)"},
        422: {"description": "Refused: fields invalid, or the report cannot be de-identified with certainty"},
    },
)
@audited(AuditAction.UPLOAD_REPORT)
async def upload_report(
    request: Request,
    principal: CurrentPrincipal,
    institution: InstitutionOfPrincipal,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    audit: Audit,
) -> JSONResponse:
    """Upload a diagnostic report for a study this hospital uploaded; it is de-identified before storage."""
    settings = runtime.settings
    try:
        form = await read_report_form(
            request.headers.get("content-type", ""),
            request.stream(),
            max_file_bytes=settings.max_report_bytes,
            memory_limit=settings.spool_memory_bytes,
        )
    except ClientDisconnect:
        raise BadRequest("the client disconnected before the body ended", code="client-disconnected") from None
    try:
        try:
            status = ReportStatus(form.fields.get("status") or ReportStatus.FINAL.value)
        except ValueError:
            raise Unprocessable("status must be preliminary, final or amended", code="invalid-report-status") from None
        upload = ReportUpload(
            study_instance_uid=form.fields["study_instance_uid"],
            report_id=form.fields["report_id"],
            title=form.fields.get("title", ""),
            status=status,
            media_type=form.file_type,
            source=form.file.file,
            link_token=form.fields.get("link_token") or None,
        )
        stored = await run_in_threadpool(ReportService(runtime).upload, principal, institution, upload)
    finally:
        form.close()
    answered = 201 if stored.created else 200
    # The report committed in its own unit of work; its event follows before the answer (503 if it cannot).
    audit.about(Target(TargetKind.REPORT, stored.report.report_uid))
    await run_in_threadpool(
        audit.record,
        status=answered,
        study_uid=stored.report.study_uid,
        details={"study": stored.report.study_uid, "kind": stored.report.kind, "created": stored.created},
    )
    body = ReportOut.of(stored.report).model_dump(mode="json")
    return JSONResponse(body, status_code=answered, headers={"Location": f"/reports/{stored.report.report_uid}"})


@router.get("/studies/{study}/reports", response_model=list[ReportOut])
@audited(AuditAction.LIST_REPORTS)
def list_study_reports(study: str, principal: CurrentPrincipal, audit: Audit) -> list[ReportOut]:
    """The reports of a study (de-identified StudyInstanceUID) that the caller may read."""
    with audit.transaction() as uow:
        access = authorize_study(uow.session, principal, Action.READ_REPORT, study)
        reports = ReportService.list_for_study(uow.session, access)
        listed = [ReportOut.of(ReportInfo.of(report, access.study.study_uid)) for report in reports]
        audit.allow(uow.session, access=access, details={"reports": len(listed)})
    return listed


@router.get(
    "/reports/{report_uid}",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/pdf": {}, "text/plain": {}, "application/dicom": {}},
            "description": "The de-identified report",
        }
    },
)
@audited(AuditAction.READ_REPORT)
def retrieve_report(
    report_uid: str, principal: CurrentPrincipal, runtime: Annotated[Runtime, Depends(get_runtime)], audit: Audit
) -> StreamingResponse:
    """Stream the stored (de-identified) report with its content type; its event commits before the first byte."""
    handle: BinaryIO | None = None
    try:
        with audit.transaction() as uow:
            report, access = ReportService.authorize_report(uow.session, principal, report_uid)
            key, content_type = report.object_key, report.content_type
            extension = {"application/pdf": "pdf", "application/dicom": "dcm"}.get(content_type, "txt")
            try:
                handle = runtime.store.open(key)
            except ObjectNotFound:
                raise ServiceUnavailable("the report's object is missing", code="report-object-missing") from None
            details = {"study": access.study.study_uid, "kind": report.kind, "size": report.size}
            audit.allow(uow.session, access=access, details=details)
    except BaseException:
        if handle is not None:
            handle.close()
        raise
    assert handle is not None  # opened before the access was recorded
    opened = handle

    def chunks() -> Iterator[bytes]:
        with opened:
            while chunk := opened.read(STREAM_CHUNK):
                yield chunk

    headers = {
        "Content-Disposition": f'inline; filename="{report_uid}.{extension}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    return StreamingResponse(chunks(), media_type=content_type, headers=headers)
