"""The trail outside an HTTP request: verify it, sign a checkpoint, record an event (CLI, DIMSE, jobs).

``record_event`` is for callers that are not routes (a DIMSE association, a scheduled job): it appends in a
transaction of its own and raises ``AuditUnavailable`` if it cannot, so the caller can refuse what it records.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from imaging_cloud.audit.chain import ChainHeadMissing, append
from imaging_cloud.audit.checkpoints import create_checkpoint
from imaging_cloud.audit.entry import OPERATOR, Actor, AuditEntry, Target
from imaging_cloud.audit.models import AccessEvent, AuditCheckpoint
from imaging_cloud.audit.recorder import AuditUnavailable
from imaging_cloud.audit.verify import ChainReport, verify_chain
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.runtime import Runtime

logger = logging.getLogger(__name__)


def trusted_keys(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """``kid`` → public JWK of every key whose checkpoints this service accepts (current and retired ones)."""
    return {entry["kid"]: entry for entry in runtime.public_jwks()["keys"]}


def verify_trail(runtime: Runtime) -> ChainReport:
    with runtime.sessions() as session:
        return verify_chain(session, trusted_keys(runtime))


def checkpoint_trail(runtime: Runtime, actor: Actor = OPERATOR) -> AuditCheckpoint:
    """Append a ``checkpoint-audit`` event and sign the head it makes, in one transaction."""
    entry = AuditEntry(
        actor=actor,
        action=AuditAction.CHECKPOINT_AUDIT,
        decision=AuditDecision.ALLOW,
        reason="signed checkpoint of the chain head",
        status=200,
        basis="operator",
        target=Target(TargetKind.AUDIT_TRAIL, "access-events"),
        details={"key_id": runtime.signing_key.kid},
    )
    with runtime.units() as uow:
        return create_checkpoint(uow.session, runtime.signing_key, entry)


def record_event(runtime: Runtime, entry: AuditEntry) -> AccessEvent:
    """Append ``entry`` in its own transaction; ``AuditUnavailable`` if it cannot be written."""
    try:
        with runtime.units() as uow:
            return append(uow.session, entry)
    except (SQLAlchemyError, ChainHeadMissing):
        logger.error("an audit event could not be written")
        raise AuditUnavailable("the audit trail is unavailable") from None
