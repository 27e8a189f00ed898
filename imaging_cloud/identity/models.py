"""Institution, Person, HealthCard and PatientXref: identifiers are stored as keyed hashes plus ciphertext."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from imaging_cloud.db.base import Base, UtcDateTime, utcnow


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    """Short public code (e.g. ``SXPH``); appears in tokens and audit events."""
    name: Mapped[str] = mapped_column(String(256))
    own_institution_access: Mapped[bool] = mapped_column(default=True, server_default=true())
    """Whether this institution's doctors see, without a grant, the studies the institution itself uploaded."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Person(Base):
    """One human. Found by ``HMAC(national ID)``; the national ID itself exists only as ciphertext."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    national_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    national_id_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    name_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    """The person's name (for display to those allowed and for scrubbing reports); ciphertext."""
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    """The PatientID written into every de-identified object of this person."""
    birth_date: Mapped[dt.date | None] = mapped_column(default=None)
    sex: Mapped[str | None] = mapped_column(String(1), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    cards: Mapped[list[HealthCard]] = relationship(back_populates="person")


class HealthCard(Base):
    """An electronic health card (电子健康卡) bound to a person."""

    __tablename__ = "health_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    card_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    card_number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    person: Mapped[Person] = relationship(back_populates="cards")


class PatientXref(Base):
    """PIX-style cross-reference: (institution, issuer, local patient id) → person."""

    __tablename__ = "patient_xrefs"
    __table_args__ = (UniqueConstraint("institution_id", "issuer", "local_id_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(64), default="")
    local_id_hash: Mapped[str] = mapped_column(String(64))
    local_id_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    link_handle: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    """The blinded name a locally de-identifying uploader asks link tokens by (:mod:`.link_handles`)."""
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    person: Mapped[Person] = relationship()
    institution: Mapped[Institution] = relationship()
