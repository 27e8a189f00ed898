"""What ingest says about one instance: stored (with its de-identified UIDs) or failed (with a reason code)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FailureReason(Enum):
    """PS3.18 / PS3.4 failure reason codes, each with a stable slug for people and machines."""

    CANNOT_UNDERSTAND = (0xC000, "cannot-understand")
    SOP_CLASS_NOT_SUPPORTED = (0x0122, "sop-class-not-supported")
    DATASET_DOES_NOT_MATCH = (0xA900, "dataset-does-not-match-sop-class")
    UNKNOWN_PATIENT = (0xC001, "unknown-patient")
    STUDY_PATIENT_CONFLICT = (0xC002, "study-patient-conflict")
    STUDY_UID_MISMATCH = (0xC003, "study-uid-mismatch")
    DEIDENTIFICATION_REFUSED = (0xC004, "deidentification-refused")
    RESIDUAL_IDENTIFIERS = (0xC005, "residual-identifiers")
    LINK_TOKEN_INVALID = (0xC006, "link-token-invalid")
    LINK_TOKEN_EXPIRED = (0xC007, "link-token-expired")
    NOT_DEIDENTIFIED = (0xC008, "not-deidentified")
    OUT_OF_RESOURCES = (0xA700, "out-of-resources")
    PROCESSING_FAILURE = (0x0110, "processing-failure")

    @property
    def status(self) -> int:
        return self.value[0]

    @property
    def slug(self) -> str:
        return self.value[1]


@dataclass(frozen=True)
class Stored:
    sop_class_uid: str
    study_uid: str
    series_uid: str
    sop_uid: str
    already_present: bool = False


@dataclass(frozen=True)
class Failed:
    reason: FailureReason
    detail: str
    """A short explanation naming the rule, never a value from the object."""
    sop_class_uid: str | None = None
    sop_uid: str | None = None
    """The instance's UID as the sender knows it, so the sender can match the failure to its file."""


Outcome = Stored | Failed
