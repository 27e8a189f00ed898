"""Refresh tokens and revoked access-token ids: revocation lives in the database, shared by every worker."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from imaging_cloud.db.base import Base, UtcDateTime, utcnow


class RefreshToken(Base):
    """An opaque, single-use refresh token (stored hashed). Using one twice revokes its whole family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    institution: Mapped[str | None] = mapped_column(String(64), default=None)
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Extra claims the access tokens of this family carry (person reference, acting-for)."""
    access_jti: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    """The access token issued with this refresh token (revoked with it on sign-out)."""
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class RevokedToken(Base):
    """An access token (by ``jti``) refused from now on, kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
