"""What a caller hands the chain: who did what to which pseudonymous target, how it was decided, and context.

An entry is normalized before it is hashed: text loses control characters and is cut to its column's width
(the database must store exactly what was hashed, and a hostile User-Agent must not make appends fail), and
``details`` must be plain JSON without floats (so it reads back bit-identical on every backend).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auth.principals import Principal
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind

#: Column widths of ``AccessEvent`` (see ``imaging_cloud.audit.models``).
_WIDTHS = {
    "actor": 128,
    "actor_role": 32,
    "institution": 64,
    "acting_for": 64,
    "token_id": 64,
    "target_id": 128,
    "patient": 64,
    "reason": 256,
    "basis": 128,
    "outcome": 64,
    "client_address": 64,
    "user_agent": 256,
    "request_id": 64,
}
_MAX_DETAIL_DEPTH = 6


def clean_text(value: str, width: int) -> str:
    """``value`` without control, format or surrogate characters, cut to ``width`` characters."""
    kept = "".join(ch for ch in value if not unicodedata.category(ch).startswith("C"))
    return kept[:width]


def _clean_optional(value: str | None, width: int) -> str | None:
    if value is None:
        return None
    cleaned = clean_text(value, width)
    return cleaned or None


def clean_details(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that is plain JSON (dict with str keys, list, str, int, bool, None), text cleaned.

    Floats are refused (their text form differs between backends and would break the hash); so is anything
    else that is not JSON. These are programming errors, not input errors, hence ``TypeError``.
    """
    if depth > _MAX_DETAIL_DEPTH:
        raise TypeError("audit details are nested too deeply")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean_text(value, 1024)
    if isinstance(value, list | tuple):
        return [clean_details(item, depth + 1) for item in value]
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("audit detail keys must be strings")
            cleaned[clean_text(key, 64)] = clean_details(item, depth + 1)
        return cleaned
    raise TypeError(f"audit details cannot hold {type(value).__name__} values")


@dataclass(frozen=True)
class Actor:
    """Who acted: a token subject with its role and institution, or ``anonymous`` before authentication."""

    subject: str
    role: str | None = None
    institution: str | None = None
    token_id: str | None = None
    acting_for: str | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(
            subject=principal.subject,
            role=principal.role.value,
            institution=principal.institution,
            token_id=principal.token_id,
            acting_for=principal.acting_for,
        )


ANONYMOUS = Actor("anonymous")
#: The operator running a server-side command (``imaging-cloud audit checkpoint``) with database access.
OPERATOR = Actor("system:cli", role="operator")


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    id: str


@dataclass(frozen=True)
class AuditEntry:
    actor: Actor
    action: AuditAction
    decision: AuditDecision
    reason: str
    status: int
    outcome: str = "ok"
    basis: str | None = None
    target: Target | None = None
    patient: str | None = None
    client_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def columns(self) -> dict[str, Any]:
        """The normalized column values (everything but ``seq``, time and hashes)."""
        raw: dict[str, str | None] = {
            "actor": self.actor.subject,
            "actor_role": self.actor.role,
            "institution": self.actor.institution,
            "acting_for": self.actor.acting_for,
            "token_id": self.actor.token_id,
            "target_id": self.target.id if self.target else None,
            "patient": self.patient,
            "reason": self.reason,
            "basis": self.basis,
            "outcome": self.outcome,
            "client_address": self.client_address,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
        }
        columns: dict[str, Any] = {name: _clean_optional(value, _WIDTHS[name]) for name, value in raw.items()}
        columns["actor"] = columns["actor"] or ANONYMOUS.subject
        columns["reason"] = columns["reason"] or self.decision.value
        columns["outcome"] = columns["outcome"] or "ok"
        columns["action"] = self.action.value
        columns["decision"] = self.decision.value
        columns["target_kind"] = self.target.kind.value if self.target else None
        columns["status"] = int(self.status)
        columns["details"] = clean_details(dict(self.details))
        return columns
