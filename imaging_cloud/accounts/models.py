"""Account rows: a client id, an argon2id secret hash, a role and (for institution roles) an institution."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from imaging_cloud.db.base import Base, UtcDateTime, utcnow


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), default=None, index=True)
    display_name: Mapped[str] = mapped_column(String(256), default="")
    practitioner_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """A doctor's practitioner number at their institution (shown to patients in "who viewed my data")."""
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
