"""Audit rows: the append-only events, the single chain-head row that serializes appends, signed checkpoints.

Events carry no foreign keys on purpose: nothing may cascade into the trail, and deleting an institution or an
account must not delete what it did. On both backends a trigger (migration 0003) refuses UPDATE and DELETE of
events and checkpoints; the hash chain makes any change made around it (by a superuser, or to the SQLite file)
detectable.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from imaging_cloud.db.base import Base, UtcDateTime

#: The chain-head table holds exactly one row, with this id.
HEAD_ID = 1
#: The ``prev_hash`` of the first event, and the head's hash while the trail is empty.
GENESIS_HASH = "0" * 64


class AccessEvent(Base):
    """One access attempt. ``hash = SHA-256(prev_hash ‖ canonical JSON of every other column)``."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Position in the chain, 1, 2, 3, … without gaps; assigned under the chain-head lock."""
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)
    """Token subject (``account:12``, ``client:HOSP-A``) or ``anonymous``; never a name or national ID."""
    actor_role: Mapped[str | None] = mapped_column(String(32))
    institution: Mapped[str | None] = mapped_column(String(64), index=True)
    acting_for: Mapped[str | None] = mapped_column(String(64))
    """The person pseudonym a proxy or service-desk act was performed for."""
    token_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    target_kind: Mapped[str | None] = mapped_column(String(16))
    target_id: Mapped[str | None] = mapped_column(String(128), index=True)
    """De-identified UID, report UID, person pseudonym, institution code or account subject."""
    patient: Mapped[str | None] = mapped_column(String(64), index=True)
    """Pseudonym of the person whose data the target is (for "who viewed my data" and person search)."""
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(256))
    basis: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[int] = mapped_column(Integer)
    """The HTTP status the access was answered with (when the event was written)."""
    outcome: Mapped[str] = mapped_column(String(64))
    """``ok`` or the stable error code of the answer."""
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Counts, query keys, per-instance outcomes: never a value that identifies a person."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The last event's ``seq`` and ``hash``. Every append locks this row first, so appends are serial."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement "the chain had ``hash`` at ``seq`` at ``created_at``": detects truncation and rewrites
    of the tail, which a self-consistent chain alone cannot."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(128))
    algorithm: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(Text)
    """base64url (unpadded) JWS signature over ``checkpoint_message(seq, hash, created_at)``."""


class AuditFlagReview(Base):
    """An auditor's review of one flag (flags themselves are computed from the chain, see ``audit.flags``).

    The note is free text that may name a person, so it lives here and never in the chain; the chain records the
    review itself (``flag-review``, with the flag id). A flag is reviewed once: ``flag_id`` is unique.
    """

    __tablename__ = "audit_flag_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flag_id: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    reviewed_by: Mapped[str] = mapped_column(String(128))
    """The auditor's token subject."""
    reviewed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    note: Mapped[str] = mapped_column(String(1000))
