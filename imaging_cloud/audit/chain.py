"""The hash chain: canonical serialization of an event, its hash, and the serialized append.

``hash = SHA-256(prev_hash ‖ canonical)`` where ``prev_hash`` is the previous event's hash as 64 lowercase hex
characters (ASCII; the first event uses ``GENESIS_HASH``) and ``canonical`` is the UTF-8 JSON object of every
column except ``prev_hash`` and ``hash``, keys sorted, no whitespace, time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
``seq`` is part of the hashed content, so moving an event breaks the chain as surely as editing it.

Appends are serialized by the single chain-head row: the first statement of an append is
``UPDATE audit_chain_head SET seq = seq + 1 … RETURNING seq, hash``. On PostgreSQL that takes the row lock,
held until the caller's transaction ends (a concurrent append waits, then sees the committed head); on SQLite
the UPDATE takes the database write lock (WAL allows one writer). Either way the event, its position and the
new head are written in the caller's transaction: the event exists exactly when the access it records commits.
Call ``append`` last in the transaction, just before commit, so the lock is held briefly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from imaging_cloud.audit.entry import AuditEntry
from imaging_cloud.audit.models import HEAD_ID, AccessEvent, AuditChainHead

#: The hashed columns, in the order they are listed (the serialization sorts keys anyway).
HASHED_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "actor_role",
    "institution",
    "acting_for",
    "token_id",
    "action",
    "target_kind",
    "target_id",
    "patient",
    "decision",
    "reason",
    "basis",
    "status",
    "outcome",
    "client_address",
    "user_agent",
    "request_id",
    "details",
)


class ChainHeadMissing(Exception):
    """The chain-head row is gone: the trail was tampered with or the schema is not migrated."""


def format_time(value: dt.datetime) -> str:
    """The one text form of a time in the chain: UTC with microseconds and ``Z``."""
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: Mapping[str, Any]) -> bytes:
    """The canonical serialization of an event's hashed fields (``occurred_at`` already formatted)."""
    return json.dumps(
        {name: fields[name] for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def event_fields(event: AccessEvent) -> dict[str, Any]:
    """The hashed fields of a stored (or about to be stored) event."""
    fields = {name: getattr(event, name) for name in HASHED_FIELDS}
    fields["occurred_at"] = format_time(event.occurred_at)
    return fields


def chain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_bytes(fields)).hexdigest()


def append(session: Session, entry: AuditEntry, *, now: dt.datetime | None = None) -> AccessEvent:
    """Append ``entry`` as the next event in the caller's transaction (locks the chain head until it ends)."""
    claimed = session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(seq=AuditChainHead.seq + 1)
        .returning(AuditChainHead.seq, AuditChainHead.hash)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if claimed is None:
        raise ChainHeadMissing("the audit chain head is missing")
    seq, prev_hash = int(claimed[0]), str(claimed[1])
    # Taken after the lock: times never run backwards along the chain (short of clock steps).
    occurred_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    event = AccessEvent(seq=seq, occurred_at=occurred_at, prev_hash=prev_hash, **entry.columns())
    event.hash = chain_hash(prev_hash, event_fields(event))
    session.add(event)
    session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == HEAD_ID)
        .values(hash=event.hash)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return event
