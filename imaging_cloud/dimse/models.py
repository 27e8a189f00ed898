"""Which calling AE titles may store, and for which institution: unknown AEs are rejected at association."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from imaging_cloud.db.base import Base, UtcDateTime, utcnow


class DimsePeer(Base):
    __tablename__ = "dimse_peers"

    id: Mapped[int] = mapped_column(primary_key=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"), index=True)
    allowed_address: Mapped[str | None] = mapped_column(String(64), default=None)
    """If set, associations from this AE title are accepted only from this IP address."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
