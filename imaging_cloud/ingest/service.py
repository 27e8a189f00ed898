"""Ingest one DICOM instance: parse → resolve person → de-identify → verify → store → index, all or nothing.

Called by STOW-RS and by the DIMSE C-STORE SCP. Each instance is its own unit of work: a failure leaves no object
and no row (the unit of work deletes the object it wrote when the transaction rolls back).

An object whose PatientID is a link token was de-identified at the hospital (``imaging-cloud upload
--deidentify-locally``). It is untrusted input: the token must be the uploading institution's and unexpired; the
object must say it was de-identified and carry only keyed (``2.25.``) or standard UIDs; high-risk images are
searched for burned-in text again; and the stored bytes pass the same residue check as the cloud's own output,
with every identifier the cloud holds for the person (and the pinyin spellings of the name). Its UIDs are kept:
the hospital's keyed map already cut them from the originals, mapping them again would add no protection, and
keeping them lets the hospital's PHI-free manifest name the stored objects and re-uploads stay idempotent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

import pydicom
from pydicom._uid_dict import UID_dictionary
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

import deidentify
from deidentify.pixels import clean_pixel_data
from imaging_cloud.db.unit_of_work import UnitOfWork, UnitOfWorkFactory
from imaging_cloud.dicomweb.attributes import (
    SERIES_KEYWORDS,
    STUDY_KEYWORDS,
    dataset_json,
    level_json,
)
from imaging_cloud.errors import ServiceUnavailable
from imaging_cloud.identity.link_tokens import LinkTokenRefusal, LinkTokenRefused, is_link_token, redeem_link_token
from imaging_cloud.identity.models import Person
from imaging_cloud.identity.service import known_identifiers, resolve_person
from imaging_cloud.ingest.outcome import Failed, FailureReason, Outcome, Stored
from imaging_cloud.keys import KeyRing
from imaging_cloud.reports.identifiers import with_pinyin
from imaging_cloud.storage.protocol import ObjectStore, instance_key
from imaging_cloud.studies.models import Instance, Series, Study

logger = logging.getLogger(__name__)

#: Values larger than this stay on disk while the header is parsed and de-identified.
DEFER_SIZE = 256 * 1024
PIXEL_DATA = 0x7FE00010
UNDEFINED_LENGTH = 0xFFFFFFFF
#: A racing instance can lose the study, the series and the instance insert in turn; each loss is one attempt.
_ATTEMPTS = 6
#: UIDs made by a keyed hash (``deidentify.remap_uid``): the only non-standard UIDs a de-identified object holds.
_KEYED_UID_ROOT = "2.25."
_LINK_TOKEN_FAILURES = {
    LinkTokenRefusal.INVALID: (FailureReason.LINK_TOKEN_INVALID, "the link token was not issued to this institution"),
    LinkTokenRefusal.EXPIRED: (FailureReason.LINK_TOKEN_EXPIRED, "the link token has expired; ask for a new one"),
}


class _Refused(Exception):
    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def is_storage_sop_class(uid: str) -> bool:
    entry = UID_dictionary.get(uid)
    return entry is not None and entry[1] == "SOP Class" and "Storage" in entry[0]


@dataclass(frozen=True)
class IngestSettings:
    profile: deidentify.Profile = deidentify.CLINICAL_SHARING


class Ingestor:
    """Holds what ingest needs; one per running service, shared by threads."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        store: ObjectStore,
        keys: KeyRing,
        settings: IngestSettings | None = None,
    ) -> None:
        self._units = units
        self._store = store
        self._keys = keys
        self._settings = settings or IngestSettings()
        self._deid_keys = deidentify.Keys(uid_key=keys.uid_key)

    def ingest(self, source: BinaryIO, *, institution_id: int, expected_study_uid: str | None = None) -> Outcome:
        """Ingest one Part 10 object read from ``source``; never raises for bad input, only for our faults."""
        start = source.tell()
        sop_class: str | None = None
        sop_uid: str | None = None
        for attempt in range(_ATTEMPTS):
            source.seek(start)  # de-identification works in place: every attempt starts from the sent bytes
            try:
                dataset = self._read(source)
                sop_class = str(dataset.get("SOPClassUID", "")) or None
                sop_uid = str(dataset.get("SOPInstanceUID", "")) or None
                self._validate(dataset)
                with self._units() as uow:
                    return self._ingest_in_unit(uow, dataset, institution_id, expected_study_uid)
            except _Refused as refused:
                return Failed(refused.reason, refused.detail, sop_class, sop_uid)
            except (IntegrityError, OperationalError):
                # Another request created the same study/series/instance (or held the SQLite lock) first:
                # the unit rolled back and removed our object; try again against the now-committed rows.
                if attempt == _ATTEMPTS - 1:
                    raise ServiceUnavailable("the index is busy; retry the upload", code="index-busy") from None
                logger.info("ingest retry after a concurrent write (attempt %d)", attempt + 1)
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 (jitter, not security)
        raise AssertionError("unreachable")

    # -- steps -------------------------------------------------------------------------------------------------

    @staticmethod
    def _read(source: BinaryIO) -> Dataset:
        start = source.tell()
        end = source.seek(0, 2)
        source.seek(start)
        head = source.read(132)
        source.seek(start)
        # Part 10 without the 128-byte preamble (what some clients write for in-memory datasets) starts
        # straight with the File Meta group; anything else must carry the preamble and "DICM".
        without_preamble = head[128:132] != b"DICM" and head[:2] == b"\x02\x00"
        try:
            dataset = pydicom.dcmread(source, defer_size=DEFER_SIZE, force=without_preamble)
        except InvalidDicomError:
            raise _Refused(FailureReason.CANNOT_UNDERSTAND, "not a DICOM Part 10 object") from None
        except Exception:  # pydicom raises many types on truncated or corrupt input
            raise _Refused(FailureReason.CANNOT_UNDERSTAND, "the DICOM object cannot be parsed") from None
        if dataset.file_meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
            # Deflated data sets are read from an inflated copy: their positions are not file offsets, and a
            # truncated deflate stream already fails to inflate above.
            _check_declared_lengths(dataset, end)
        return dataset

    @staticmethod
    def _validate(dataset: Dataset) -> None:
        for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            if not str(dataset.get(keyword, "")).strip():
                raise _Refused(FailureReason.DATASET_DOES_NOT_MATCH, f"{keyword} is missing")
        if not is_storage_sop_class(str(dataset.SOPClassUID)):
            raise _Refused(FailureReason.SOP_CLASS_NOT_SUPPORTED, "SOP Class is not a storage SOP Class")

    def _ingest_in_unit(
        self, uow: UnitOfWork, source_ds: Dataset, institution_id: int, expected_study_uid: str | None
    ) -> Outcome:
        session = uow.session
        if expected_study_uid is not None and str(source_ds.StudyInstanceUID) != expected_study_uid:
            raise _Refused(FailureReason.STUDY_UID_MISMATCH, "StudyInstanceUID differs from the study in the URL")
        patient_id = str(source_ds.get("PatientID", ""))
        local = is_link_token(patient_id)
        if local:
            person: Person | None = self._redeem(session, patient_id, institution_id)
        else:
            person = resolve_person(
                session, self._keys, institution_id, patient_id, str(source_ds.get("IssuerOfPatientID", ""))
            )
        if person is None:
            raise _Refused(
                FailureReason.UNKNOWN_PATIENT,
                "PatientID is neither a registered cross-reference nor a valid national ID",
            )

        uid_key = self._keys.uid_key
        study_uid, sop_uid = str(source_ds.StudyInstanceUID), str(source_ds.SOPInstanceUID)
        if not local:  # a locally de-identified object's UIDs are the hospital's keyed ones already
            study_uid, sop_uid = deidentify.remap_uid(study_uid, uid_key), deidentify.remap_uid(sop_uid, uid_key)
        sop_class = str(source_ds.SOPClassUID)
        study = session.scalar(select(Study).where(Study.study_uid == study_uid))
        if study is not None and study.person_id != person.id:
            raise _Refused(
                FailureReason.STUDY_PATIENT_CONFLICT, "this study was stored earlier for a different patient"
            )
        existing = session.scalar(select(Instance).where(Instance.sop_uid == sop_uid))
        if existing is not None:
            series_uid = session.scalar(select(Series.series_uid).where(Series.id == existing.series_id))
            return Stored(sop_class, study_uid, str(series_uid), sop_uid, already_present=True)

        known = known_identifiers(session, self._keys, person)
        original_uids: set[str] = set()  # a locally de-identified object's originals never reached the cloud
        if local:
            deidentified, known = self._accept_local(source_ds, person), with_pinyin(known)
        else:
            original_uids = deidentify.collect_uids(source_ds)  # before de-identification, which works in place
            try:
                result = deidentify.deidentify(
                    source_ds,
                    profile=self._settings.profile,
                    keys=self._deid_keys,
                    subject=deidentify.Subject(
                        pseudonym=person.pseudonym, known=known, person_ref=person.national_id_hash
                    ),
                )
            except deidentify.DeidentificationError as exc:
                raise _Refused(
                    FailureReason.DEIDENTIFICATION_REFUSED, f"de-identification refused: {exc.code}"
                ) from None
            deidentified, known = result.dataset, result.known
        series_uid = str(deidentified.SeriesInstanceUID)
        key = instance_key(study_uid, series_uid, sop_uid)
        encoded = self._encode(deidentified)
        # The pixel data now lives in ``encoded``: drop the dataset's copy before verification parses a third.
        deidentified.pop(PIXEL_DATA, None)
        # Verify the very bytes that will be stored, not a re-encoding of the dataset.
        findings = deidentify.verify(encoded, known, original_uids=original_uids)
        if findings:
            kinds = sorted({f.kind for f in findings})
            raise _Refused(
                FailureReason.RESIDUAL_IDENTIFIERS,
                "identifiers remain after de-identification: " + ", ".join(kinds),
            )
        metadata = dataset_json(deidentified)
        digest = hashlib.sha256(encoded).hexdigest()
        study = study or self._new_study(session, deidentified, metadata, study_uid, person, institution_id)
        series = self._series(session, study, deidentified, metadata, series_uid)
        session.add(
            Instance(
                sop_uid=sop_uid,
                sop_class_uid=sop_class,
                series_id=series.id,
                study_id=study.id,
                institution_id=institution_id,
                instance_number=_int_or_none(deidentified.get("InstanceNumber")),
                number_of_frames=_int_or_none(deidentified.get("NumberOfFrames")) or 1,
                rows=_int_or_none(deidentified.get("Rows")),
                columns=_int_or_none(deidentified.get("Columns")),
                transfer_syntax_uid=str(deidentified.file_meta.TransferSyntaxUID),
                object_key=key,
                size=len(encoded),
                sha256=digest,
                attributes=metadata,
            )
        )
        # Claim the rows before writing the object: a racing upload of the same instance now blocks on (or
        # fails at) the unique instance row before it writes anything, so no rollback can ever delete an
        # object that another transaction is about to commit a row for.
        session.flush()
        uow.wrote(key)
        self._store.put(key, io.BytesIO(encoded), size=len(encoded))
        return Stored(sop_class, study_uid, series_uid, sop_uid)

    def _redeem(self, session: Session, token: str, institution_id: int) -> Person:
        try:
            return redeem_link_token(session, self._keys, institution_id, token.strip(), dt.datetime.now(dt.UTC))
        except LinkTokenRefused as refused:
            reason, detail = _LINK_TOKEN_FAILURES[refused.refusal]
            raise _Refused(reason, detail) from None

    def _accept_local(self, ds: Dataset, person: Person) -> Dataset:
        """Check what the hospital claims to have done and put the pseudonym in place of the link token (the
        residue check of the encoded bytes follows in the common path)."""
        if str(ds.get("PatientIdentityRemoved", "")).strip().upper() != "YES":
            raise _Refused(FailureReason.NOT_DEIDENTIFIED, "PatientIdentityRemoved is not YES")
        for uid in deidentify.collect_uids(ds):
            if not (uid.startswith(_KEYED_UID_ROOT) or deidentify.is_well_known_uid(uid)):
                raise _Refused(FailureReason.NOT_DEIDENTIFIED, "a UID is neither keyed (2.25.) nor standard")
        self._search_burned_in_text(ds)
        ds.PatientID = person.pseudonym
        return ds

    def _search_burned_in_text(self, ds: Dataset) -> None:
        """High-risk images (by the profile's pixel policy) must show no text: the hospital should have blacked
        it out, so any text found now is refused, never cleaned here."""
        policy = self._settings.profile.clean_pixel_data
        if policy is None:
            if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
                raise _Refused(FailureReason.DEIDENTIFICATION_REFUSED, "BurnedInAnnotation is YES")
            return
        reason = deidentify.pixel_check_reason(ds, policy)
        if reason is None:
            return
        syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) or str(ExplicitVRLittleEndian)
        try:
            found = clean_pixel_data(
                ds, transfer_syntax=syntax, policy=policy, detector=deidentify.default_detector(), reason=reason
            )
        except deidentify.DeidentificationError as exc:
            raise _Refused(FailureReason.DEIDENTIFICATION_REFUSED, f"pixel check refused: {exc.code}") from None
        if found.regions:
            raise _Refused(FailureReason.RESIDUAL_IDENTIFIERS, "burned-in text remains in the pixel data")

    @staticmethod
    def _encode(dataset: Dataset) -> bytes:
        """The Part 10 encoding, in memory (objects are bounded by the part size limit; verification and the
        hash need every byte anyway, and a temporary file per instance cost more than the copy it avoided)."""
        buffer = io.BytesIO()
        try:
            pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
        except Exception:
            raise _Refused(
                FailureReason.CANNOT_UNDERSTAND, "the DICOM object cannot be re-encoded (truncated or corrupt)"
            ) from None
        return buffer.getvalue()

    @staticmethod
    def _new_study(
        session: Session,
        ds: Dataset,
        metadata: dict[str, Any],
        study_uid: str,
        person: Person,
        institution_id: int,
    ) -> Study:
        study = Study(
            study_uid=study_uid,
            person_id=person.id,
            institution_id=institution_id,
            study_date=str(ds.get("StudyDate", "") or ""),
            study_time=str(ds.get("StudyTime", "") or ""),
            study_description=str(ds.get("StudyDescription", "") or "")[:256],
            study_id=str(ds.get("StudyID", "") or "")[:16],
            accession_number=str(ds.get("AccessionNumber", "") or "")[:16],
            attributes=level_json(metadata, STUDY_KEYWORDS),
        )
        session.add(study)
        session.flush()
        return study

    @staticmethod
    def _series(session: Session, study: Study, ds: Dataset, metadata: dict[str, Any], series_uid: str) -> Series:
        series = session.scalar(select(Series).where(Series.series_uid == series_uid))
        if series is not None:
            return series
        modality = str(ds.get("Modality", "") or "")
        body_part = str(ds.get("BodyPartExamined", "") or "")
        series = Series(
            series_uid=series_uid,
            study_id=study.id,
            modality=modality,
            series_number=_int_or_none(ds.get("SeriesNumber")),
            series_description=str(ds.get("SeriesDescription", "") or "")[:256],
            body_part=body_part[:64],
            attributes=level_json(metadata, SERIES_KEYWORDS),
        )
        session.add(series)
        study.modalities = _add_to_multivalue(study.modalities, modality)
        study.body_parts = _add_to_multivalue(study.body_parts, body_part)
        session.flush()
        return series


def _check_declared_lengths(dataset: Dataset, end: int) -> None:
    """Refuse a truncated object or one declaring a value longer than the file (pydicom reads such values short)."""
    for raw in dataset._dict.values():  # raw elements still carry where their value sits in the file
        if isinstance(raw, RawDataElement) and raw.length != UNDEFINED_LENGTH and raw.value_tell + raw.length > end:
            raise _Refused(FailureReason.CANNOT_UNDERSTAND, "a value is longer than the object (truncated or corrupt)")


def _add_to_multivalue(current: str, value: str) -> str:
    values = [v for v in current.split("\\") if v]
    if value and value not in values:
        values.append(value)
    return "\\".join(values)


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None
