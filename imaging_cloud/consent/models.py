"""Consent rows. Each is a fact ``auth.policy.decide`` weighs; none is ever deleted, only revoked or ended.

Scopes (which of the person's studies a grant or a one-time code covers) share one column layout
(``ScopeColumns``) so the facts loader turns any of them into an ``auth.policy.Scope`` the same way.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from imaging_cloud.db.base import Base, UtcDateTime, utcnow


class ScopeColumns:
    """Which studies of the person: ``all``, listed ``studies``, one ``modality``, or a ``date-range``."""

    scope_kind: Mapped[str] = mapped_column(String(16), default="all")
    scope_study_uids: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope_modality: Mapped[str | None] = mapped_column(String(16), default=None)
    scope_date_from: Mapped[str | None] = mapped_column(String(8), default=None)
    scope_date_to: Mapped[str | None] = mapped_column(String(8), default=None)


class ActedByColumns:
    """Who did it for the person: the person themself, a proxy (another person), or desk staff for them."""

    @declared_attr
    def acted_by_person_id(cls) -> Mapped[int | None]:  # noqa: N805 (SQLAlchemy declared_attr)
        return mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"), default=None)

    @declared_attr
    def staff_session_id(cls) -> Mapped[int | None]:  # noqa: N805
        return mapped_column(ForeignKey("staff_sessions.id", ondelete="RESTRICT"), default=None)


class Grant(ScopeColumns, ActedByColumns, Base):
    """A patient's standing authorization for one doctor or a whole institution."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"), index=True)
    grantee_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), default=None, index=True)
    grantee_institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), default=None, index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class OneTimeCode(ScopeColumns, ActedByColumns, Base):
    """A short-lived, single-use code the patient shows a doctor: ``<public_id>-<secret>``; the secret is hashed.

    The public part names the code so failed attempts count against it (and lock it) without a lookup by secret.
    """

    __tablename__ = "one_time_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"), index=True)
    session_seconds: Mapped[int] = mapped_column(Integer)
    """How long the doctor's session lasts once the code is used."""
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    used_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CodeSession(ScopeColumns, Base):
    """The time-boxed access a doctor got by using a one-time code."""

    __tablename__ = "code_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("one_time_codes.id"), unique=True)
    doctor_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class CodeAttempt(Base):
    """One try at redeeming a code, kept for the per-doctor rate limit (in the database, shared by workers)."""

    __tablename__ = "code_attempts"
    __table_args__ = (Index("ix_code_attempts_account_at", "account_id", "attempted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    code_public_id: Mapped[str | None] = mapped_column(String(16), default=None)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    attempted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProxyLink(ActedByColumns, Base):
    """A family member (亲情账号) acting for a person with chosen rights, until removed."""

    __tablename__ = "proxy_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"), index=True)
    """The represented person (elder, child)."""
    proxy_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"), index=True)
    relationship: Mapped[str] = mapped_column(String(32), default="family")
    can_view: Mapped[bool] = mapped_column(Boolean, default=True)
    can_grant: Mapped[bool] = mapped_column(Boolean, default=False)
    can_issue_codes: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    removed_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), default=None)


class BreakGlassSession(Base):
    """Emergency access by one doctor to one person's studies: reason required, time-boxed, reviewed later."""

    __tablename__ = "break_glass_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(1000))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    reviewed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), default=None)
    review_note: Mapped[str | None] = mapped_column(String(1000), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class StaffSession(Base):
    """A service-desk clerk serving one person in person, after an ID check the clerk attests."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="RESTRICT"), index=True)
    document_type: Mapped[str] = mapped_column(String(32))
    """The identity document checked in person (resident ID card, household register, passport…)."""
    attestation: Mapped[str] = mapped_column(String(256))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


__all__ = [
    "BreakGlassSession",
    "CodeAttempt",
    "CodeSession",
    "Grant",
    "OneTimeCode",
    "ProxyLink",
    "StaffSession",
]
