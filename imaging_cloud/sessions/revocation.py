"""Access tokens refused before they expire, by ``jti``: kept in the database so every worker refuses them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from imaging_cloud.sessions.models import RevokedToken


def is_revoked(session: Session, jti: str) -> bool:
    """Whether the token ``jti`` was revoked: one primary-key lookup, made on every authenticated request."""
    return session.scalar(select(RevokedToken.jti).where(RevokedToken.jti == jti)) is not None


def revoke_access_tokens(session: Session, jtis: Iterable[str], *, until: dt.datetime) -> None:
    """Refuse the tokens ``jtis`` from now on; ``until`` bounds their expiry (after it the row can be purged)."""
    wanted = set(jtis)
    if not wanted:
        return
    known = set(session.scalars(select(RevokedToken.jti).where(RevokedToken.jti.in_(wanted))))
    session.add_all(RevokedToken(jti=jti, expires_at=until) for jti in sorted(wanted - known))
    session.flush()


def purge_expired(session: Session, *, now: dt.datetime) -> int:
    """Forget revocations of tokens that have expired anyway (the verifier refuses those on its own)."""
    result = session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)
