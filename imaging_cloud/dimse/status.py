"""C-STORE response statuses (PS3.4 B.2.3) from ingest outcomes, with the reason slug in ErrorComment.

The codes are the ones STOW-RS puts in FailedSOPSequence, with one DIMSE twist: the ingest's "not a storage SOP
Class" (0x0122) means, on a negotiated storage context, that the data set does not match its SOP Class (0xA900).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from imaging_cloud.ingest.outcome import FailureReason, Outcome, Stored

SUCCESS = 0x0000
WARNING_DATASET_DOES_NOT_MATCH = 0xB007
#: ErrorComment is LO: at most 64 characters.
ERROR_COMMENT_LENGTH = 64


def _status(code: int, comment: str | None = None) -> Dataset:
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment.encode("ascii", "replace").decode("ascii")[:ERROR_COMMENT_LENGTH]
    return status


def failure_status(reason: FailureReason, detail: str) -> Dataset:
    code = reason.status
    if reason is FailureReason.SOP_CLASS_NOT_SUPPORTED:
        code, slug = FailureReason.DATASET_DOES_NOT_MATCH.status, FailureReason.DATASET_DOES_NOT_MATCH.slug
    else:
        slug = reason.slug
    return _status(code, f"{slug}: {detail}")


def store_status(outcome: Outcome, affected_sop_class_uid: str) -> Dataset:
    """Success, or a warning when stored under another SOP Class than the command named, or a failure."""
    if isinstance(outcome, Stored):
        if affected_sop_class_uid and outcome.sop_class_uid != affected_sop_class_uid:
            return _status(
                WARNING_DATASET_DOES_NOT_MATCH,
                "dataset-does-not-match-sop-class: stored as its own SOP Class",
            )
        return _status(SUCCESS)
    return failure_status(outcome.reason, outcome.detail)
