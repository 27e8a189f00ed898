"""Refresh tokens with rotation: opaque, single use, stored hashed, grouped in families (one per sign-in).

A sign-in starts a family; each refresh marks the presented token used and issues a new access token and refresh
token in the same family. Presenting a used token again means it was copied: the whole family and every access
token issued with it are revoked (OAuth 2.0 Security BCP, refresh token rotation). Sign-out revokes the caller's
access token and its family. Nothing lives in process memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from auth.tokens import IssuedToken
from imaging_cloud.accounts.models import Account
from imaging_cloud.keys import KeyRing
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.models import RefreshToken
from imaging_cloud.sessions.revocation import revoke_access_tokens

REFRESH_TOKEN_BYTES = 32


class TokenOut(BaseModel):
    """An OAuth 2.0 token response; ``refresh_token`` only for people signing in (not for system clients)."""

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


@dataclass(frozen=True)
class SessionGrant:
    """What a sign-in grants: restated unchanged in every access token of the family."""

    subject: str
    role: str
    institution: str | None = None
    claims: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IssuedSession:
    grant: SessionGrant
    access: IssuedToken
    refresh_token: str | None
    refresh_expires_at: dt.datetime | None
    family_id: str | None

    def response(self, now: dt.datetime) -> TokenOut:
        refresh_in = None
        if self.refresh_expires_at is not None:
            refresh_in = int((self.refresh_expires_at - now).total_seconds())
        return TokenOut(
            access_token=self.access.token,
            expires_in=int((self.access.expires_at - now).total_seconds()),
            refresh_token=self.refresh_token,
            refresh_expires_in=refresh_in,
        )


class RefreshRefused(Exception):
    """The refresh token cannot be used. ``detail`` is for the audit trail only; ``family_id`` is set when the
    refusal must revoke the token's family (reuse, a deactivated account)."""

    def __init__(self, detail: str, family_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.family_id = family_id


def refresh_token_hash(keys: KeyRing, token: str) -> str:
    """Keyed hash under which a refresh token is stored (a database dump gives no usable token)."""
    return hmac.new(keys.index_key, b"refresh-token\x00" + token.encode("utf-8"), hashlib.sha256).hexdigest()


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _access_ttl(runtime: Runtime) -> dt.timedelta:
    return dt.timedelta(seconds=runtime.settings.access_token_seconds)


def access_only(runtime: Runtime, grant: SessionGrant, *, now: dt.datetime | None = None) -> IssuedSession:
    """An access token without refresh token (system clients sign in again with their credentials)."""
    access = runtime.issuer.issue(
        subject=grant.subject,
        role=grant.role,
        ttl=_access_ttl(runtime),
        now=_now(now),
        institution=grant.institution,
        extra=grant.claims,
    )
    return IssuedSession(grant, access, refresh_token=None, refresh_expires_at=None, family_id=None)


def start_session(
    session: Session,
    runtime: Runtime,
    grant: SessionGrant,
    *,
    family_id: str | None = None,
    now: dt.datetime | None = None,
) -> IssuedSession:
    """An access token and a new refresh token, in ``family_id`` or (a new sign-in) in a new family."""
    at = _now(now)
    issued = access_only(runtime, grant, now=at)
    token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    expires = at + dt.timedelta(seconds=runtime.settings.refresh_token_seconds)
    family = family_id or secrets.token_urlsafe(24)
    session.add(
        RefreshToken(
            token_hash=refresh_token_hash(runtime.keys, token),
            family_id=family,
            subject=grant.subject,
            role=grant.role,
            institution=grant.institution,
            claims=dict(grant.claims),
            access_jti=issued.access.jti,
            expires_at=expires,
            created_at=at,
        )
    )
    session.flush()
    return IssuedSession(grant, issued.access, refresh_token=token, refresh_expires_at=expires, family_id=family)


def _still_allowed(session: Session, row: RefreshToken) -> bool:
    """An account's sessions end when the account is deactivated (people's sessions have no such switch)."""
    kind, _, ident = row.subject.partition(":")
    if kind != "account":
        return True
    return bool(ident.isdigit() and session.scalar(select(Account.active).where(Account.id == int(ident))))


def rotate(session: Session, runtime: Runtime, presented: str, *, now: dt.datetime | None = None) -> IssuedSession:
    """Use ``presented`` once: mark it used and issue its successor in the same family; ``RefreshRefused`` if
    it is unknown, revoked, expired or already used (then ``family_id`` names the family to revoke)."""
    at = _now(now)
    row = session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == refresh_token_hash(runtime.keys, presented))
    )
    if row is None:
        raise RefreshRefused("unknown-refresh-token")
    if row.revoked_at is not None:
        raise RefreshRefused("revoked-refresh-token")
    if row.used_at is not None:
        raise RefreshRefused("refresh-token-reused", family_id=row.family_id)
    if row.expires_at <= at:
        raise RefreshRefused("expired-refresh-token")
    if not _still_allowed(session, row):
        raise RefreshRefused("account-inactive", family_id=row.family_id)
    # Claim it atomically: of two concurrent uses exactly one updates the row; the other is a reuse.
    claimed = session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=at)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise RefreshRefused("refresh-token-reused", family_id=row.family_id)
    grant = SessionGrant(row.subject, row.role, row.institution, {str(k): str(v) for k, v in row.claims.items()})
    return start_session(session, runtime, grant, family_id=row.family_id, now=at)


def revoke_family(session: Session, runtime: Runtime, family_id: str, *, now: dt.datetime | None = None) -> None:
    """End a sign-in: every refresh token of the family and every access token issued with one."""
    at = _now(now)
    rows = session.scalars(select(RefreshToken).where(RefreshToken.family_id == family_id)).all()
    for row in rows:
        if row.revoked_at is None:
            row.revoked_at = at
    jtis = {row.access_jti for row in rows if row.access_jti}
    revoke_access_tokens(session, jtis, until=at + _access_ttl(runtime))


def family_of(session: Session, access_jti: str) -> str | None:
    """The family of the refresh token issued with the access token ``access_jti`` (none for system clients)."""
    return session.scalar(select(RefreshToken.family_id).where(RefreshToken.access_jti == access_jti).limit(1))


def sign_out(session: Session, runtime: Runtime, access_jti: str, *, now: dt.datetime | None = None) -> str | None:
    """Revoke the access token ``access_jti`` and its refresh family; returns the family (if there was one)."""
    at = _now(now)
    revoke_access_tokens(session, [access_jti], until=at + _access_ttl(runtime))
    family = family_of(session, access_jti)
    if family is not None:
        revoke_family(session, runtime, family, now=at)
    return family
