"""Recompute the chain and name the first broken event; check the head and every signed checkpoint.

What each finding means:

* ``sequence-gap``: the event expected at ``seq`` is missing (deleted, or the chain reordered around it);
* ``prev-hash-mismatch``: the event does not link to the one before it (an event before it was removed,
  replaced or moved);
* ``hash-mismatch``: the event's content is not what was hashed (edited in place);
* ``head-missing`` / ``head-mismatch``: the chain head does not name the last event (events cut from the end,
  or written around the append path);
* ``checkpoint-event-missing``: a signed checkpoint names a ``seq`` the trail no longer has (truncated);
* ``checkpoint-hash-mismatch``: the event at a checkpoint's ``seq`` is not the one that was signed (the chain
  was rewritten and re-hashed);
* ``checkpoint-signature-invalid`` / ``checkpoint-key-unknown``: the checkpoint itself is forged or was signed
  by a key this service does not trust.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from imaging_cloud.audit.chain import chain_hash, event_fields
from imaging_cloud.audit.checkpoints import signature_valid
from imaging_cloud.audit.models import GENESIS_HASH, HEAD_ID, AccessEvent, AuditChainHead, AuditCheckpoint

_BATCH = 2000


@dataclass(frozen=True)
class Finding:
    problem: str
    seq: int | None
    """The event (or checkpoint position) the problem is at."""
    detail: str


@dataclass(frozen=True)
class ChainReport:
    events_checked: int
    last_seq: int
    """The ``seq`` of the last event that verified (0 when none did)."""
    checkpoints_checked: int
    first_broken: Finding | None
    """The first event whose link or content is wrong; ``None`` when the chain itself is intact."""
    findings: list[Finding] = field(default_factory=list)
    """Every problem found: the first broken link, then head and checkpoint problems."""

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "last_seq": self.last_seq,
            "checkpoints_checked": self.checkpoints_checked,
            "first_broken": asdict(self.first_broken) if self.first_broken else None,
            "findings": [asdict(finding) for finding in self.findings],
        }


def _walk(session: Session, upto: int | None) -> tuple[int, int, str, Finding | None]:
    """(events checked, last good seq, last good hash, first broken link) over the events up to ``upto``."""
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0
    query = select(AccessEvent).order_by(AccessEvent.seq)
    if upto is not None:
        query = query.where(AccessEvent.seq <= upto)
    rows = session.scalars(query.execution_options(yield_per=_BATCH))
    for event in rows:
        checked += 1
        if event.seq != expected_seq:
            return (
                checked,
                expected_seq - 1,
                expected_prev,
                Finding("sequence-gap", expected_seq, f"the next event found is seq {event.seq}"),
            )
        if event.prev_hash != expected_prev:
            return (
                checked,
                expected_seq - 1,
                expected_prev,
                Finding("prev-hash-mismatch", event.seq, "the event does not link to the event before it"),
            )
        if chain_hash(event.prev_hash, event_fields(event)) != event.hash:
            return (
                checked,
                expected_seq - 1,
                expected_prev,
                Finding("hash-mismatch", event.seq, "the event's content does not match its hash"),
            )
        expected_seq, expected_prev = event.seq + 1, event.hash
    return checked, expected_seq - 1, expected_prev, None


def _check_head(head: tuple[int, str] | None, last_seq: int, last_hash: str) -> Finding | None:
    if head is None:
        return Finding("head-missing", None, "the chain head row is missing")
    if head != (last_seq, last_hash):
        return Finding("head-mismatch", head[0], f"the chain head names seq {head[0]}; the last event is {last_seq}")
    return None


def _check_checkpoint(
    session: Session, checkpoint: AuditCheckpoint, public_keys: Mapping[str, Mapping[str, Any]]
) -> Finding | None:
    valid = signature_valid(checkpoint, public_keys)
    if valid is None:
        return Finding("checkpoint-key-unknown", checkpoint.seq, f"no trusted key {checkpoint.key_id}")
    if not valid:
        return Finding("checkpoint-signature-invalid", checkpoint.seq, f"checkpoint {checkpoint.id} is not authentic")
    stored = session.scalar(select(AccessEvent.hash).where(AccessEvent.seq == checkpoint.seq))
    if stored is None:
        return Finding("checkpoint-event-missing", checkpoint.seq, f"checkpoint {checkpoint.id} names a missing event")
    if stored != checkpoint.hash:
        detail = f"the event differs from the one checkpoint {checkpoint.id} signed"
        return Finding("checkpoint-hash-mismatch", checkpoint.seq, detail)
    return None


def verify_chain(session: Session, public_keys: Mapping[str, Mapping[str, Any]]) -> ChainReport:
    """Verify the whole trail; ``public_keys`` maps ``kid`` to the public JWK of each trusted signing key.

    The head is read first and only events up to it are walked: appends committed while verification runs
    (head and event always commit together) neither disturb it nor need a snapshot-isolated transaction.
    """
    row = session.execute(select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)).first()
    head = (int(row[0]), str(row[1])) if row is not None else None
    checked, last_seq, last_hash, broken = _walk(session, head[0] if head else None)
    findings = [broken] if broken else []
    if broken is None and (head_problem := _check_head(head, last_seq, last_hash)) is not None:
        findings.append(head_problem)
    checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq, AuditCheckpoint.id)))
    for checkpoint in checkpoints:
        if (problem := _check_checkpoint(session, checkpoint, public_keys)) is not None:
            findings.append(problem)
    return ChainReport(
        events_checked=checked,
        last_seq=last_seq,
        checkpoints_checked=len(checkpoints),
        first_broken=broken,
        findings=findings,
    )
