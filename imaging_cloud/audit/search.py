"""Finding events for auditors: filters on the indexed columns, keyset paging by ``seq``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from auth.national_id import normalize_national_id
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.identity.models import HealthCard, Person
from imaging_cloud.identity.service import HEALTH_CARD, NATIONAL_ID
from imaging_cloud.keys import KeyRing

MAX_PAGE = 1000
MAX_EXPORT = 10000


@dataclass(frozen=True)
class EventFilter:
    """Every field that is set must match; ``since`` is inclusive, ``until`` exclusive."""

    actor: str | None = None
    institution: str | None = None
    action: str | None = None
    decision: str | None = None
    basis: str | None = None
    patient: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        columns = {
            "actor": AccessEvent.actor,
            "institution": AccessEvent.institution,
            "action": AccessEvent.action,
            "decision": AccessEvent.decision,
            "basis": AccessEvent.basis,
            "patient": AccessEvent.patient,
            "target_id": AccessEvent.target_id,
        }
        where = [column == getattr(self, name) for name, column in columns.items() if getattr(self, name) is not None]
        if self.since is not None:
            where.append(AccessEvent.occurred_at >= self.since)
        if self.until is not None:
            where.append(AccessEvent.occurred_at < self.until)
        return where

    def as_details(self) -> dict[str, str]:
        """The filters that were set, for the auditor's own audit event (all pseudonymous values)."""
        shown: dict[str, str] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, dt.datetime):
                shown[item.name] = value.isoformat()
            elif value is not None:
                shown[item.name] = str(value)
        return shown


def find_events(session: Session, where: EventFilter, *, after_seq: int = 0, limit: int = 100) -> list[AccessEvent]:
    """Events matching ``where`` with ``seq > after_seq``, oldest first, at most ``limit``."""
    query = (
        select(AccessEvent)
        .where(AccessEvent.seq > after_seq, *where.conditions())
        .order_by(AccessEvent.seq)
        .limit(max(1, limit))
    )
    return list(session.scalars(query))


def pseudonym_of(
    session: Session, keys: KeyRing, *, national_id: str | None = None, health_card: str | None = None
) -> str | None:
    """The pseudonym of the person a national ID or health card names (by keyed lookup hash), if known.

    The identifier itself is only hashed here: it is never stored, logged or recorded in the trail.
    """
    if national_id:
        lookup = keys.lookup_hash(NATIONAL_ID, normalize_national_id(national_id))
        return session.scalar(select(Person.pseudonym).where(Person.national_id_hash == lookup))
    if health_card:
        lookup = keys.lookup_hash(HEALTH_CARD, health_card)
        return session.scalar(
            select(Person.pseudonym)
            .join(HealthCard, HealthCard.person_id == Person.id)
            .where(HealthCard.card_number_hash == lookup)
        )
    return None
