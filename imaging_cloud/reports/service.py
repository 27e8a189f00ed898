"""Store, list and open diagnostic reports; every report is de-identified before it is persisted.

By kind:

- ``text`` (``text/plain``, UTF-8 or a GB charset): decoded, scrubbed of the person's known identifiers (and
  their pinyin spellings) and of generic patterns, re-checked to hold none, stored as UTF-8;
- ``pdf``: rebuilt as an image-only PDF with every identifier blacked out (``deidentify.pdf``);
- ``sr`` (``application/dicom``, an SR Storage SOP Class): the object goes through the same ``Ingestor`` as
  STOW-RS — de-identified (Clean Structured Content scrubs the content items), verified, stored and indexed as an
  instance of the study, where DICOM viewers find it. The Report row points at that instance's object: the bytes
  are stored once.
- ``encapsulated-pdf`` (``application/dicom``, Encapsulated PDF Storage): the embedded PDF is taken out and
  rebuilt by ``deidentify.pdf`` exactly like a stand-alone PDF, and stored as ``application/pdf``; the DICOM
  wrapper is checked (its StudyInstanceUID is the form's, its PatientID resolves to the study's person) and not
  stored: the report is kept once, as the PDF. (An Encapsulated PDF sent over STOW-RS or DIMSE instead is an
  instance of the study, cleaned by ``deidentify`` itself.)

A hospital that de-identifies locally (``imaging-cloud upload-report --deidentify-locally``) sends a ``link_token``
instead of anything identifying: its StudyInstanceUID is then already keyed by the hospital (as its images' are) and
taken as is, and must be a study of the token's person; its report id is already a keyed hash. The content goes
through the same scrubbing, but as untrusted input: anything the cloud's scrubber still finds in it (a text
report's text, a PDF's text layer, the title) is refused (422 ``report-residual-identifiers``), never silently
fixed, so a broken local step shows. Only text and PDF come this way. A locally redacted PDF is image-only, so its
pages are accepted without a text layer; pixels are not OCR'd here (the local step drew them from a redacted page).

A report's identity is a keyed hash of (uploading institution, the hospital's report id): the same upload again
answers 200 with the report already stored, whatever its bytes; a new id is a new report (201). Processing runs
outside any transaction; the object is written and the row inserted in one unit of work afterwards, so a failed
insert deletes the object again.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import io
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, cast

import pydicom
from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import deidentify
from auth.policy import Action
from auth.principals import Principal
from deidentify import RejectedInstance, Scrubber
from deidentify.pdf import PdfLimits, PdfRefused, redact_pdf
from deidentify.pinyin import report_scrubber
from deidentify.reports import scrub_text, search_terms, text_codec
from imaging_cloud.access.visibility import AuthorizedStudy, authorize_study
from imaging_cloud.dicomweb.media_types import MediaType
from imaging_cloud.errors import Conflict, NotFound, Unprocessable, UnsupportedMediaType
from imaging_cloud.identity.link_tokens import LinkTokenRefused, is_link_token, redeem_link_token
from imaging_cloud.identity.models import Institution, Person
from imaging_cloud.identity.service import known_identifiers, resolve_person
from imaging_cloud.ingest.outcome import Failed
from imaging_cloud.reports.models import Report
from imaging_cloud.runtime import Runtime
from imaging_cloud.storage.protocol import report_key
from imaging_cloud.studies.models import Instance, Study

logger = logging.getLogger(__name__)

REPORT_ID_LABEL = b"imaging-cloud/report-id/v1\x00"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
PDF_CONTENT_TYPE = "application/pdf"
DICOM_CONTENT_TYPE = "application/dicom"
ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
SR_STORAGE_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_MAX_TITLE = 256
_MAX_LINK_TOKEN = 64


class ReportKind(enum.StrEnum):
    PDF = "pdf"
    TEXT = "text"
    SR = "sr"
    ENCAPSULATED_PDF = "encapsulated-pdf"


class ReportStatus(enum.StrEnum):
    PRELIMINARY = "preliminary"
    FINAL = "final"
    AMENDED = "amended"


@dataclass(frozen=True)
class ReportUpload:
    """One upload as the hospital sent it (identifiers still in it; never log it)."""

    study_instance_uid: str
    """The hospital's original StudyInstanceUID."""
    report_id: str
    title: str
    status: ReportStatus
    media_type: MediaType
    source: BinaryIO
    link_token: str | None = None
    """Set when the hospital de-identified the report itself: the study UID and report id are then keyed."""

    def __repr__(self) -> str:
        return f"ReportUpload(<{self.media_type.type}>)"


@dataclass(frozen=True)
class ReportInfo:
    """What callers may see of a stored report, read while its session was open (no lazy loads later)."""

    report_uid: str
    study_uid: str
    kind: str
    content_type: str
    title: str
    status: str
    size: int
    sha256: str
    created_at: dt.datetime
    object_key: str

    @classmethod
    def of(cls, report: Report, study_uid: str) -> ReportInfo:
        return cls(
            report_uid=report.report_uid,
            study_uid=study_uid,
            kind=report.kind,
            content_type=report.content_type,
            title=report.title,
            status=report.status,
            size=report.size,
            sha256=report.sha256,
            created_at=report.created_at,
            object_key=report.object_key,
        )


@dataclass(frozen=True)
class StoredReport:
    report: ReportInfo
    created: bool


@dataclass
class _Prepared:
    """A de-identified report, ready to be stored."""

    kind: ReportKind
    content_type: str
    extension: str
    spool: BinaryIO
    size: int
    sha256: str


def report_uid_for(uid_key: bytes, institution_code: str, report_id: str) -> str:
    """``2.25.<int>`` from a keyed hash of the uploading institution and its report id (idempotent uploads)."""
    message = f"{institution_code}\x00{report_id}".encode()
    digest = hmac.new(uid_key, REPORT_ID_LABEL + message, hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _validate(upload: ReportUpload) -> None:
    uid = upload.study_instance_uid
    if not (0 < len(uid) <= 64 and _UID.match(uid)):
        raise Unprocessable("study_instance_uid is not a DICOM UID", code="invalid-study-uid")
    if not (0 < len(upload.report_id) <= 64) or any(ord(ch) < 0x20 for ch in upload.report_id):
        raise Unprocessable("report_id must be 1-64 printable characters", code="invalid-report-id")
    token = upload.link_token
    if token is not None and not (len(token) <= _MAX_LINK_TOKEN and is_link_token(token)):
        raise Unprocessable("link_token is not a link token", code="link-token-invalid")
    if token is not None and kind_of(upload.media_type) is None:
        raise Unprocessable("a locally de-identified report is text or PDF", code="report-local-type-unsupported")


def _residue(message: str) -> Unprocessable:
    return Unprocessable(message, code="report-residual-identifiers")


def kind_of(media_type: MediaType) -> ReportKind | None:
    """The kind a media type announces; DICOM kinds are told apart later by SOP Class (``None`` = DICOM)."""
    if media_type.type == "application/pdf":
        return ReportKind.PDF
    if media_type.type == "text/plain":
        return ReportKind.TEXT
    if media_type.type == "application/dicom":
        return None
    raise UnsupportedMediaType(
        "reports are application/pdf, text/plain or application/dicom", code="unsupported-report-type"
    )


class ReportService:
    """Report use cases over one running service's database, object store, keys and ingestor."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    # -- upload ------------------------------------------------------------------------------------------------

    def upload(self, principal: Principal, institution: Institution, upload: ReportUpload) -> StoredReport:
        _validate(upload)
        declared = kind_of(upload.media_type)
        dicom = _read_dicom_report(upload) if declared is None else None
        runtime = self._runtime
        local = upload.link_token is not None
        study_uid = upload.study_instance_uid
        if not local:
            study_uid = deidentify.remap_uid(study_uid, runtime.keys.uid_key)
        report_uid = report_uid_for(runtime.keys.uid_key, institution.code, upload.report_id)
        with runtime.units.read_only() as session:
            linked = _linked_person(session, runtime, institution, upload.link_token) if local else None
            access = authorize_study(session, principal, Action.UPLOAD_REPORT, study_uid)
            if linked is not None and access.study.person_id != linked.id:
                raise Unprocessable(
                    "the study is not a study of the link token's person", code="report-study-person-mismatch"
                )
            existing = self._existing(session, report_uid, access)
            if existing is not None:
                return StoredReport(ReportInfo.of(existing, study_uid), created=False)
            study_id = access.study.id
            person = session.get(Person, access.study.person_id)
            if person is None:  # pragma: no cover - the foreign key forbids it
                raise NotFound("study not found", code="study-not-found")
            if dicom is not None and dicom.kind is ReportKind.ENCAPSULATED_PDF:
                resolved = resolve_person(session, runtime.keys, institution.id, dicom.patient_id, dicom.issuer)
                if resolved is None or resolved.id != person.id:
                    raise Unprocessable(
                        "the report's PatientID does not resolve to the study's patient", code="report-patient-mismatch"
                    )
            known = known_identifiers(session, runtime.keys, person)
        scrubber = report_scrubber(known)
        if local and scrubber.find(upload.title):
            raise _residue("the locally de-identified title still holds identifiers")
        title = scrubber.scrub(upload.title)[0][:_MAX_TITLE]
        if dicom is not None and dicom.kind is ReportKind.SR:
            return self._ingest_sr(upload, institution, study_id, study_uid, report_uid, title)
        kind = dicom.kind if dicom is not None else declared
        assert kind is not None
        source = io.BytesIO(dicom.document) if dicom is not None else upload.source
        terms = search_terms(known)
        with self._prepared(kind, source, upload.media_type, scrubber, terms, untrusted=local) as prepared:
            return self._store(prepared, institution, study_id, study_uid, report_uid, title, upload.status)

    @staticmethod
    def _existing(session: Session, report_uid: str, access: AuthorizedStudy) -> Report | None:
        existing = session.scalar(select(Report).where(Report.report_uid == report_uid))
        if existing is not None and existing.study_id != access.study.id:
            raise Conflict("this report id was stored for another study", code="report-study-conflict")
        return existing

    @contextmanager
    def _prepared(
        self,
        kind: ReportKind,
        source: BinaryIO,
        media_type: MediaType,
        scrubber: Scrubber,
        terms: tuple[str, ...],
        *,
        untrusted: bool = False,
    ) -> Iterator[_Prepared]:
        """The de-identified report; ``untrusted`` (locally de-identified) refuses what it would have to scrub."""
        memory = self._runtime.settings.spool_memory_bytes
        with tempfile.SpooledTemporaryFile(max_size=memory, prefix="report-") as spooled:
            spool = cast(BinaryIO, spooled)
            if kind is ReportKind.TEXT:
                data = _scrub_text(source, media_type, scrubber, refuse_residue=untrusted)
                spool.write(data)
                content_type, extension = TEXT_CONTENT_TYPE, "txt"
            else:
                limits = PdfLimits(allow_image_only_pages=True) if untrusted else None
                try:
                    result = redact_pdf(source, spool, _finder(scrubber), terms, limits)
                except PdfRefused as refused:
                    raise Unprocessable(refused.message, code=refused.code) from None
                if untrusted and result.boxes:
                    raise _residue("the locally de-identified PDF still holds identifiers in its text")
                content_type, extension = PDF_CONTENT_TYPE, "pdf"
            size, sha256 = _measure(spool)
            yield _Prepared(kind, content_type, extension, spool, size, sha256)

    def _store(
        self,
        prepared: _Prepared,
        institution: Institution,
        study_id: int,
        study_uid: str,
        report_uid: str,
        title: str,
        status: ReportStatus,
    ) -> StoredReport:
        runtime = self._runtime
        key = report_key(study_uid, report_uid, prepared.extension)
        try:
            with runtime.units() as uow:
                if (found := uow.session.scalar(select(Report).where(Report.report_uid == report_uid))) is not None:
                    return StoredReport(ReportInfo.of(found, study_uid), created=False)
                uow.wrote(key)
                prepared.spool.seek(0)
                runtime.store.put(key, prepared.spool, size=prepared.size, content_type=prepared.content_type)
                report = Report(
                    report_uid=report_uid,
                    study_id=study_id,
                    institution_id=institution.id,
                    kind=prepared.kind.value,
                    content_type=prepared.content_type,
                    title=title,
                    status=status.value,
                    object_key=key,
                    size=prepared.size,
                    sha256=prepared.sha256,
                )
                uow.session.add(report)
                uow.session.flush()
                info = ReportInfo.of(report, study_uid)
        except IntegrityError as error:
            # The same report id arrived concurrently and committed first (same bytes: the output is
            # deterministic); the unit of work kept the object because the other row references it.
            return self._after_race(error, report_uid, study_uid)
        logger.info("report stored: kind=%s size=%d", prepared.kind.value, prepared.size)
        return StoredReport(info, created=True)

    def _after_race(self, error: IntegrityError, report_uid: str, study_uid: str) -> StoredReport:
        with self._runtime.units.read_only() as session:
            found = session.scalar(select(Report).where(Report.report_uid == report_uid))
            if found is None:
                raise error
            return StoredReport(ReportInfo.of(found, study_uid), created=False)

    def _ingest_sr(
        self,
        upload: ReportUpload,
        institution: Institution,
        study_id: int,
        study_uid: str,
        report_uid: str,
        title: str,
    ) -> StoredReport:
        runtime = self._runtime
        upload.source.seek(0)
        outcome = runtime.ingestor.ingest(
            upload.source, institution_id=institution.id, expected_study_uid=upload.study_instance_uid
        )
        if isinstance(outcome, Failed):
            raise Unprocessable(f"the DICOM report was refused: {outcome.detail}", code=f"report-{outcome.reason.slug}")
        kind = ReportKind.SR
        try:
            with runtime.units() as uow:
                session = uow.session
                if (found := session.scalar(select(Report).where(Report.report_uid == report_uid))) is not None:
                    return StoredReport(ReportInfo.of(found, study_uid), created=False)
                instance = session.scalar(select(Instance).where(Instance.sop_uid == outcome.sop_uid))
                if instance is None:  # pragma: no cover - ingest just committed it
                    raise NotFound("the ingested report instance vanished", code="report-not-found")
                report = Report(
                    report_uid=report_uid,
                    study_id=study_id,
                    institution_id=institution.id,
                    kind=kind.value,
                    content_type=DICOM_CONTENT_TYPE,
                    title=title,
                    status=upload.status.value,
                    object_key=instance.object_key,
                    size=instance.size,
                    sha256=instance.sha256,
                )
                session.add(report)
                session.flush()
                info = ReportInfo.of(report, study_uid)
        except IntegrityError as error:
            return self._after_race(error, report_uid, study_uid)
        logger.info("DICOM report stored: kind=%s", kind.value)
        return StoredReport(info, created=True)

    # -- read --------------------------------------------------------------------------------------------------

    @staticmethod
    def list_for_study(session: Session, access: AuthorizedStudy) -> list[Report]:
        """The study's reports the principal may read (a hospital: those its institution uploaded)."""
        query = select(Report).where(Report.study_id == access.study.id)
        if access.institution_id is not None:
            query = query.where(Report.institution_id == access.institution_id)
        return list(session.scalars(query.order_by(Report.created_at, Report.id)))

    @staticmethod
    def authorize_report(session: Session, principal: Principal, report_uid: str) -> tuple[Report, AuthorizedStudy]:
        """The report and its authorized study, or 404 (absent, or its study not visible) / 403."""
        report = session.scalar(select(Report).where(Report.report_uid == report_uid))
        if report is None:
            raise NotFound("report not found", code="report-not-found")
        study_uid = report_study_uid(session, report)
        try:
            access = authorize_study(session, principal, Action.READ_REPORT, study_uid)
        except NotFound:
            raise NotFound("report not found", code="report-not-found") from None
        if access.institution_id is not None and report.institution_id != access.institution_id:
            raise NotFound("report not found", code="report-not-found")
        return report, access


def report_study_uid(session: Session, report: Report) -> str:
    return str(session.scalar(select(Study.study_uid).where(Study.id == report.study_id)))


def _finder(scrubber: Scrubber) -> Callable[[str], list[tuple[int, int]]]:
    def find(text: str) -> list[tuple[int, int]]:
        return [(start, end) for start, end, _ in scrubber.find(text)]

    return find


def _linked_person(session: Session, runtime: Runtime, institution: Institution, token: str | None) -> Person:
    """The person a locally de-identified report's link token names for this institution (422 otherwise)."""
    assert token is not None
    try:
        return redeem_link_token(session, runtime.keys, institution.id, token.strip(), dt.datetime.now(dt.UTC))
    except LinkTokenRefused as refused:
        raise Unprocessable(
            "the link token is unknown, expired or another institution's", code=refused.refusal.value
        ) from None


def _scrub_text(source: BinaryIO, media_type: MediaType, scrubber: Scrubber, *, refuse_residue: bool = False) -> bytes:
    """The library scrubs (:mod:`deidentify.reports`); this maps its refusals to HTTP errors."""
    try:
        codec = text_codec(media_type.params.get("charset", "utf-8"))
    except RejectedInstance as refused:
        raise UnsupportedMediaType(refused.detail, code=refused.code) from None
    source.seek(0)
    try:
        text = source.read().decode(codec)
    except UnicodeDecodeError:
        raise Unprocessable(
            "the text report does not decode with its charset", code="report-text-undecodable"
        ) from None
    if refuse_residue and scrubber.find(text):
        raise _residue("the locally de-identified text still holds identifiers")
    try:
        return scrub_text(text.removeprefix("\ufeff"), scrubber).encode("utf-8")
    except RejectedInstance as refused:
        raise Unprocessable(refused.detail, code=refused.code) from None


@dataclass(frozen=True)
class _DicomReport:
    kind: ReportKind
    patient_id: str
    issuer: str
    document: bytes
    """The embedded PDF of an Encapsulated PDF (empty for SR)."""


def _read_dicom_report(upload: ReportUpload) -> _DicomReport:
    """Tell SR from Encapsulated PDF and check the object belongs to the form's study (422 otherwise)."""
    source = upload.source
    source.seek(0)
    try:
        dataset: Dataset = pydicom.dcmread(source)
        sop_class = str(dataset.get("SOPClassUID", ""))
        study = str(dataset.get("StudyInstanceUID", ""))
        patient_id, issuer = str(dataset.get("PatientID", "")), str(dataset.get("IssuerOfPatientID", ""))
    except Exception:  # pydicom raises many types on malformed input
        raise Unprocessable("the report is not a readable DICOM object", code="report-not-dicom") from None
    if study != upload.study_instance_uid:
        raise Unprocessable("the report's StudyInstanceUID is not the form's", code="report-study-uid-mismatch")
    if sop_class.startswith(SR_STORAGE_PREFIX):
        return _DicomReport(ReportKind.SR, patient_id, issuer, b"")
    if sop_class != ENCAPSULATED_PDF_STORAGE:
        raise Unprocessable(
            "a DICOM report must be a Structured Report or an Encapsulated PDF", code="report-not-a-report"
        )
    if str(dataset.get("MIMETypeOfEncapsulatedDocument", "")).strip().lower() != "application/pdf":
        raise Unprocessable("the encapsulated document is not a PDF", code="report-not-pdf")
    try:
        document = bytes(dataset.EncapsulatedDocument)
    except Exception:
        raise Unprocessable("the Encapsulated PDF has no readable document", code="report-not-dicom") from None
    length = dataset.get("EncapsulatedDocumentLength")
    if isinstance(length, int) and 0 < length <= len(document):
        document = document[:length]  # drop the even-length padding
    return _DicomReport(ReportKind.ENCAPSULATED_PDF, patient_id, issuer, document)


def _measure(spool: BinaryIO) -> tuple[int, str]:
    spool.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := spool.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    spool.seek(0)
    return size, digest.hexdigest()
