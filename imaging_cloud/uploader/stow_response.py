"""Reading a PS3.18 STOW-RS response: how many instances were stored, and which failed for what reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
ERROR_COMMENT = "00000902"


@dataclass(frozen=True)
class InstanceFailure:
    sop_uid: str | None
    """The SOP Instance UID as the sender knows it, when the service could read it."""
    reason: str
    """A short slug such as ``unknown-patient`` (never a value from the object)."""


@dataclass(frozen=True)
class StowResult:
    stored: int
    failures: list[InstanceFailure]


def _first(item: Mapping[str, Any], tag: str) -> Any:
    element = item.get(tag)
    if not isinstance(element, Mapping):
        return None
    values = element.get("Value")
    if not isinstance(values, list) or not values:
        return None
    return values[0]


def reason_slug(item: Mapping[str, Any]) -> str:
    """The slug before ``:`` in ErrorComment, else the FailureReason code as ``failure-0xc000``."""
    comment = _first(item, ERROR_COMMENT)
    if isinstance(comment, str) and comment.strip():
        slug = comment.split(":", 1)[0].strip().lower()
        if slug and all(c.isalnum() or c in "-_." for c in slug):
            return slug[:64]
    code = _first(item, FAILURE_REASON)
    if isinstance(code, int):
        return f"failure-0x{code:04x}"
    return "unspecified-failure"


def parse_stow_response(body: object) -> StowResult:
    """The outcome a STOW-RS DICOM JSON body describes; anything else yields zero stored, no failures."""
    if not isinstance(body, Mapping):
        return StowResult(stored=0, failures=[])
    referenced = body.get(REFERENCED_SOP_SEQUENCE, {})
    failed = body.get(FAILED_SOP_SEQUENCE, {})
    stored_items = referenced.get("Value", []) if isinstance(referenced, Mapping) else []
    failed_items = failed.get("Value", []) if isinstance(failed, Mapping) else []
    failures = []
    for item in failed_items if isinstance(failed_items, list) else []:
        if not isinstance(item, Mapping):
            continue
        uid = _first(item, REFERENCED_SOP_INSTANCE_UID)
        failures.append(InstanceFailure(sop_uid=uid if isinstance(uid, str) else None, reason=reason_slug(item)))
    return StowResult(stored=len(stored_items) if isinstance(stored_items, list) else 0, failures=failures)
