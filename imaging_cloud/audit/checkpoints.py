"""Signed checkpoints: the chain head at a moment, signed with the service's token signing key.

A chain that is consistent with itself can still have been cut short, or rewritten from some event onwards by
someone who recomputed every later hash and the head. A checkpoint signed earlier names the hash the chain had
at its ``seq``; verification compares it with the stored event there, so truncation below a checkpoint or any
rewrite at or before one is detected without trusting the database. Checkpoints are written by
``imaging-cloud audit checkpoint`` and automatically every ``CHECKPOINT_INTERVAL`` events; each one is preceded
by its own ``checkpoint-audit`` event, so it covers its own creation.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from auth.signatures import sign_bytes, verify_bytes
from auth.tokens import SigningKey
from imaging_cloud.audit.chain import append, format_time
from imaging_cloud.audit.entry import AuditEntry
from imaging_cloud.audit.models import AccessEvent, AuditCheckpoint

#: Every this many events the recorder also signs a checkpoint (inside the append's transaction).
CHECKPOINT_INTERVAL = 1000

_DOMAIN = b"imaging-cloud audit checkpoint v1\n"


def checkpoint_message(seq: int, chain_hash: str, created_at: dt.datetime) -> bytes:
    """The exact bytes a checkpoint signs (a domain label keeps them from meaning anything else)."""
    return _DOMAIN + f"{seq}\n{chain_hash}\n{format_time(created_at)}\n".encode("ascii")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def sign_event(
    session: Session, key: SigningKey, event: AccessEvent, *, now: dt.datetime | None = None
) -> AuditCheckpoint:
    """Sign ``event`` (the head the caller just appended, still locked) as a checkpoint, in the same transaction."""
    created_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    signature = sign_bytes(key, checkpoint_message(event.seq, event.hash, created_at))
    checkpoint = AuditCheckpoint(
        seq=event.seq,
        hash=event.hash,
        created_at=created_at,
        key_id=key.kid,
        algorithm=key.alg,
        signature=_b64url(signature),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def create_checkpoint(session: Session, key: SigningKey, entry: AuditEntry) -> AuditCheckpoint:
    """Append ``entry`` (the checkpoint's own event) and sign the resulting head, in the caller's transaction."""
    return sign_event(session, key, append(session, entry))


def signature_valid(checkpoint: AuditCheckpoint, public_keys: Mapping[str, Mapping[str, Any]]) -> bool | None:
    """Whether the checkpoint's signature is valid; ``None`` when no trusted key has its ``key_id``."""
    public_jwk = public_keys.get(checkpoint.key_id)
    if public_jwk is None:
        return None
    try:
        signature = _unb64url(checkpoint.signature)
    except ValueError:
        return False
    message = checkpoint_message(checkpoint.seq, checkpoint.hash, checkpoint.created_at)
    return verify_bytes(public_jwk, message, signature)
