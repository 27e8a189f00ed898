"""C-STORE statuses from ingest outcomes: the STOW-RS codes, the DIMSE meaning of a non-storage data set, comments."""

from __future__ import annotations

import pytest

from imaging_cloud.dimse.status import store_status
from imaging_cloud.ingest.outcome import Failed, FailureReason, Stored

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"


def test_stored_instance_answers_success_without_a_comment() -> None:
    status = store_status(Stored(CT, "2.25.1", "2.25.2", "2.25.3"), CT)
    assert status.Status == 0x0000
    assert "ErrorComment" not in status


def test_instance_already_present_answers_success() -> None:
    assert store_status(Stored(CT, "2.25.1", "2.25.2", "2.25.3", already_present=True), CT).Status == 0x0000


def test_instance_stored_under_another_sop_class_than_the_command_named_answers_b007() -> None:
    status = store_status(Stored(MR, "2.25.1", "2.25.2", "2.25.3"), CT)
    assert status.Status == 0xB007
    assert status.ErrorComment.startswith("dataset-does-not-match-sop-class:")


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (FailureReason.CANNOT_UNDERSTAND, 0xC000),
        (FailureReason.UNKNOWN_PATIENT, 0xC001),
        (FailureReason.STUDY_PATIENT_CONFLICT, 0xC002),
        (FailureReason.DEIDENTIFICATION_REFUSED, 0xC004),
        (FailureReason.RESIDUAL_IDENTIFIERS, 0xC005),
        (FailureReason.DATASET_DOES_NOT_MATCH, 0xA900),
        (FailureReason.SOP_CLASS_NOT_SUPPORTED, 0xA900),  # on a negotiated storage context: a mismatch
        (FailureReason.OUT_OF_RESOURCES, 0xA700),
        (FailureReason.PROCESSING_FAILURE, 0x0110),
    ],
)
def test_failure_reason_maps_to_its_status_code(reason: FailureReason, code: int) -> None:
    status = store_status(Failed(reason, "the rule that failed", CT, "1.2.3"), CT)
    assert status.Status == code
    assert status.ErrorComment.split(":")[0] in (reason.slug, "dataset-does-not-match-sop-class")


def test_error_comment_is_ascii_and_fits_lo() -> None:
    status = store_status(Failed(FailureReason.UNKNOWN_PATIENT, "患者未登记 " + "x" * 200), CT)
    comment = str(status.ErrorComment)
    assert len(comment) <= 64
    assert comment.isascii()
    assert comment.startswith("unknown-patient: ")
