"""``imaging-cloud upload-report``: send one diagnostic report (text, PDF or DICOM) for a study to ``POST /reports``.

Plain mode sends the report as the hospital holds it; the cloud scrubs it with the identifiers it holds.

Local mode (``LocalDeidentification`` given) sends nothing identifying:

* the content is scrubbed here by :mod:`deidentify.reports` (the code the cloud runs) with the person's
  identifiers the hospital knows, plus the local patient id and the report id; a text report becomes UTF-8, a
  PDF an image-only PDF; the title is scrubbed the same way, or dropped when it cannot be cleaned with certainty;
* the StudyInstanceUID is remapped with the hospital's UID key (``deidentify.remap_uid``, as the image upload
  does), so the report lands on the study its images made;
* the report id (accession-like) becomes :func:`local_report_id`, a keyed hash under the same key, stable across
  re-uploads so the cloud's idempotency holds;
* the patient is named by a link token for ``(issuer, local id)``, asked for by its blinded handle.

Only text and PDF reports take the local mode (DICOM SR and Encapsulated PDF go through ``upload``). The manifest
gets one line: the de-identified study UID, the cloud's report UID and the outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import deidentify
from deidentify.errors import RejectedInstance
from deidentify.pinyin import report_scrubber
from deidentify.reports import redact_pdf_report, scrub_text, scrub_text_report
from deidentify.subjects import KnownIdentifiers
from imaging_cloud.uploader.credentials import TokenSource
from imaging_cloud.uploader.local_deidentification import LocalDeidentification
from imaging_cloud.uploader.retry import RetryPolicy
from imaging_cloud.uploader.service_requests import ServiceRequests
from imaging_cloud.uploader.upload import error_code

LOCAL_REPORT_ID_LABEL = b"imaging-cloud/local-report-id/v1\x00"
PDF = "application/pdf"
DICOM = "application/dicom"
_SENT_NAMES = {PDF: "report.pdf", DICOM: "report.dcm"}


class ReportNotSent(Exception):
    """The report was refused before anything was sent (local scrubbing, unsupported type, unknown patient)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ReportRequest:
    path: Path
    study_uid: str
    """The hospital's StudyInstanceUID."""
    report_id: str
    title: str = ""
    status: str = "final"
    charset: str = "utf-8"
    """The declared charset of a text report (utf-8 or gb18030/gbk)."""


@dataclass(frozen=True)
class LocalPatient:
    """Who the report is about, as the hospital knows them (local mode only; never sent)."""

    patient_id: str
    issuer: str = ""
    known: KnownIdentifiers = field(default_factory=KnownIdentifiers)


@dataclass(frozen=True)
class ReportResult:
    status: int
    """201 stored, 200 stored before; anything else refused."""
    code: str | None = None
    report_uid: str | None = None
    study_uid: str | None = None

    @property
    def stored(self) -> bool:
        return self.status in (200, 201)


def local_report_id(uid_key: bytes, report_id: str) -> str:
    """64 hex characters naming the hospital's report id under its UID key (the id itself never travels)."""
    return hmac.new(uid_key, LOCAL_REPORT_ID_LABEL + report_id.strip().encode(), hashlib.sha256).hexdigest()


def media_type_of(data: bytes) -> str:
    """PDF or DICOM by their signatures; anything else is a text report."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data[128:132] == b"DICM":
        return DICOM
    return "text/plain"


@dataclass(frozen=True)
class _Outgoing:
    fields: dict[str, str]
    content: bytes
    content_type: str


def _plain(request: ReportRequest, data: bytes) -> _Outgoing:
    media = media_type_of(data)
    content_type = f"text/plain; charset={request.charset}" if media == "text/plain" else media
    fields = {"study_instance_uid": request.study_uid, "report_id": request.report_id, "status": request.status}
    if request.title:
        fields["title"] = request.title
    return _Outgoing(fields, data, content_type)


def _scrubbed(request: ReportRequest, data: bytes, known: KnownIdentifiers) -> tuple[bytes, str]:
    media = media_type_of(data)
    try:
        if media == PDF:
            target = io.BytesIO()
            redact_pdf_report(data, target, known)
            return target.getvalue(), PDF
        if media == "text/plain":
            return scrub_text_report(data, request.charset, known), "text/plain; charset=utf-8"
    except RejectedInstance as refused:
        raise ReportNotSent(refused.code, "the report cannot be de-identified here with certainty") from None
    raise ReportNotSent("report-local-type-unsupported", "only text and PDF reports are de-identified locally")


def _local_title(title: str, known: KnownIdentifiers) -> str:
    """The scrubbed title, or none when scrubbing leaves something it still finds."""
    try:
        return scrub_text(title, report_scrubber(known)) if title else ""
    except RejectedInstance:
        return ""


def _local(request: ReportRequest, data: bytes, patient: LocalPatient, local: LocalDeidentification) -> _Outgoing:
    known = patient.known.merged(KnownIdentifiers(ids=(patient.patient_id, request.report_id)))
    content, content_type = _scrubbed(request, data, known)
    token = local.link_token(patient.issuer, patient.patient_id)
    if token is None:
        raise ReportNotSent("xref-not-found", "this institution registered no cross-reference for the patient id")
    fields = {
        "study_instance_uid": deidentify.remap_uid(request.study_uid, local.uid_key),
        "report_id": local_report_id(local.uid_key, request.report_id),
        "status": request.status,
        "link_token": token,
    }
    if title := _local_title(request.title, known):
        fields["title"] = title
    return _Outgoing(fields, content, content_type)


def _write_manifest(path: Path, study_uid: str, result: ReportResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line: dict[str, str] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "report": result.report_uid or "",
        "study": study_uid,
        "outcome": "stored" if result.stored else "failed",
    }
    if result.code is not None:
        line["reason"] = result.code
    with path.open("a", encoding="utf-8") as manifest:
        manifest.write(json.dumps(line) + "\n")


def upload_report(
    request: ReportRequest,
    *,
    service_url: str,
    tokens: TokenSource,
    client: httpx.Client,
    retry: RetryPolicy | None = None,
    local: LocalDeidentification | None = None,
    patient: LocalPatient | None = None,
) -> ReportResult:
    """Send the report; local mode when ``local`` (and ``patient``) are given. ``ReportNotSent`` before sending."""
    data = request.path.read_bytes()
    if local is None:
        outgoing = _plain(request, data)
    else:
        if patient is None:
            raise ValueError("local mode needs the patient")
        outgoing = _local(request, data, patient, local)
    name = _SENT_NAMES.get(outgoing.content_type, "report.txt")  # never the local file name: it may name the patient
    response = ServiceRequests(client, service_url, tokens, retry).send(
        "POST", "/reports", data=outgoing.fields, files={"file": (name, outgoing.content, outgoing.content_type)}
    )
    if response.status_code in (200, 201):
        body = response.json()
        result = ReportResult(response.status_code, None, str(body["report_uid"]), str(body["study_uid"]))
    else:
        result = ReportResult(response.status_code, error_code(response))
    if local is not None:
        _write_manifest(local.manifest_path, outgoing.fields["study_instance_uid"], result)
    return result
