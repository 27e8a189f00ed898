"""Review flags: patterns in the chain an auditor should look at, computed by SQL aggregation over the events.

Five kinds (``FlagKind``), each one ``SELECT … GROUP BY`` over ``audit_events`` (and, for renewed grants, the
``grants`` rows the events' basis names):

* ``break-glass`` — one per emergency session: its opening event and every access on ``basis = break-glass:<id>``.
* ``bulk-access`` — an actor read data of more than N distinct persons, or more than M distinct studies, in one
  window (windows are aligned to the epoch, so a window's flag keeps its id as events arrive).
* ``outside-office-hours`` — staff (doctor, service desk, hospital, admin, auditor) touched a person's data outside
  office hours; one flag per actor and local day.
* ``renewed-grant`` — access on a grant created for the same grantee and person after an earlier grant expired.
* ``repeated-denials`` — an actor was refused at least N times in one window.

**Computed on demand, review state stored.** A flag is a pure function of the append-only chain (plus grant rows,
which are never deleted) and the thresholds in the settings, so it is computed when asked for rather than
materialized: there is no second writer next to the chain to keep in step (a materializer would need a watermark,
re-aggregation of windows that straddle it, and a rerun whenever a threshold changes), changed thresholds apply to
the whole history at once, and a flag can never be missing because a job did not run. What is not derivable, the
auditor's review and its free-text note, is stored in ``audit_flag_reviews`` keyed by the flag's deterministic id
(``<kind>.<key>``, e.g. ``bulk-access.493015.account:12``) — the note stays off the chain, the review is itself a
``flag-review`` event. The cost is one aggregation per kind per request over indexed columns; a time range is
pushed down into the window kinds' scans (widened to whole windows, so counts are exact), which keeps an
auditor's "this week" cheap however long the trail grows.

Times in SQL: windows are ``floor(epoch seconds / window)``; office hours need the local time in an IANA zone,
which PostgreSQL computes with ``timezone(zone, t)`` and SQLite (no zone database) with a deterministic function
registered on the connection for the query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.expression import FunctionElement

from imaging_cloud.audit.models import AccessEvent, AuditFlagReview
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision
from imaging_cloud.consent.models import Grant
from imaging_cloud.settings import Settings

MAX_PAGE = 500


class FlagKind(StrEnum):
    """What made the flag (stable values: they are part of every flag id and of review rows)."""

    BREAK_GLASS = "break-glass"
    BULK_ACCESS = "bulk-access"
    OUTSIDE_OFFICE_HOURS = "outside-office-hours"
    RENEWED_GRANT = "renewed-grant"
    REPEATED_DENIALS = "repeated-denials"


#: Reads of a person's data: what bulk access counts.
READ_ACTIONS = tuple(
    a.value
    for a in (
        AuditAction.RETRIEVE,
        AuditAction.RETRIEVE_METADATA,
        AuditAction.RETRIEVE_FRAMES,
        AuditAction.RETRIEVE_BULKDATA,
        AuditAction.RETRIEVE_RENDERED,
        AuditAction.RETRIEVE_THUMBNAIL,
        AuditAction.LIST_REPORTS,
        AuditAction.READ_REPORT,
    )
)
#: Roles whose access outside office hours is unusual (a patient looking at their own images at night is not).
STAFF_ROLES = ("doctor", "service-desk", "hospital", "admin", "auditor")
_SQLITE_LOCALTIME = "ic_localtime"


@dataclass(frozen=True)
class FlagRules:
    """The thresholds and office hours flags are computed with (from the settings)."""

    window: dt.timedelta = dt.timedelta(hours=1)
    bulk_patients: int = 20
    bulk_studies: int = 50
    repeated_denials: int = 5
    timezone: str = "Asia/Shanghai"
    office_start: dt.time = dt.time(8, 0)
    office_end: dt.time = dt.time(18, 0)

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # an unknown zone fails here, not in the middle of a query
        if self.window < dt.timedelta(minutes=1) or self.office_start >= self.office_end:
            raise ValueError("audit flag window or office hours are invalid")

    @classmethod
    def of(cls, settings: Settings) -> FlagRules:
        return cls(
            window=dt.timedelta(minutes=settings.audit_flag_window_minutes),
            bulk_patients=settings.audit_bulk_patients,
            bulk_studies=settings.audit_bulk_studies,
            repeated_denials=settings.audit_repeated_denials,
            timezone=settings.audit_office_timezone,
            office_start=settings.audit_office_start,
            office_end=settings.audit_office_end,
        )

    @property
    def window_seconds(self) -> int:
        return int(self.window.total_seconds())

    def as_details(self) -> dict[str, Any]:
        return {
            "window_minutes": self.window_seconds // 60,
            "bulk_patients": self.bulk_patients,
            "bulk_studies": self.bulk_studies,
            "repeated_denials": self.repeated_denials,
            "timezone": self.timezone,
            "office_hours": f"{self.office_start:%H:%M}-{self.office_end:%H:%M}",
        }


@dataclass(frozen=True)
class FlagFilter:
    kinds: tuple[FlagKind, ...] = tuple(FlagKind)
    reviewed: bool | None = None
    since: dt.datetime | None = None
    """The flag's last event is at or after ``since``."""
    until: dt.datetime | None = None
    """The flag's first event is before ``until``."""
    flag_id: str | None = None

    def as_details(self) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        if set(self.kinds) != set(FlagKind):
            shown["kinds"] = [k.value for k in self.kinds]
        if self.reviewed is not None:
            shown["reviewed"] = self.reviewed
        if self.since is not None:
            shown["since"] = self.since.isoformat()
        if self.until is not None:
            shown["until"] = self.until.isoformat()
        return shown


@dataclass(frozen=True)
class Flag:
    id: str
    kind: FlagKind
    actor: str
    institution: str | None
    patient: str | None
    """The person's pseudonym when the flag is about one person."""
    first_seq: int
    last_seq: int
    first_at: dt.datetime
    last_at: dt.datetime
    events: int
    patients: int
    studies: int
    reviewed_by: str | None
    reviewed_at: dt.datetime | None
    note: str | None


# -- dialect-specific time expressions ---------------------------------------------------------------------------


class _EpochBucket(FunctionElement[int]):
    """``floor(epoch seconds of the column / seconds)``: the aligned window an event falls in."""

    type = BigInteger()
    inherit_cache = True


@compiles(_EpochBucket, "postgresql")
def _bucket_postgresql(element: _EpochBucket, compiler: Any, **kw: Any) -> str:
    column, seconds = list(element.clauses)
    return (
        f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(column, **kw)}) / {compiler.process(seconds, **kw)}) "
        "AS BIGINT)"
    )


@compiles(_EpochBucket, "sqlite")
def _bucket_sqlite(element: _EpochBucket, compiler: Any, **kw: Any) -> str:
    column, seconds = list(element.clauses)
    return f"(CAST(strftime('%s', {compiler.process(column, **kw)}) AS INTEGER) / {compiler.process(seconds, **kw)})"


class _LocalTime(FunctionElement[str]):
    """The column's wall-clock time in a zone, as text ``YYYY-MM-DD HH:MM:SS``."""

    type = String()
    inherit_cache = True


@compiles(_LocalTime, "postgresql")
def _local_postgresql(element: _LocalTime, compiler: Any, **kw: Any) -> str:
    column, zone = list(element.clauses)
    return (
        f"to_char(timezone({compiler.process(zone, **kw)}, {compiler.process(column, **kw)}), 'YYYY-MM-DD HH24:MI:SS')"
    )


@compiles(_LocalTime, "sqlite")
def _local_sqlite(element: _LocalTime, compiler: Any, **kw: Any) -> str:
    column, zone = list(element.clauses)
    return f"{_SQLITE_LOCALTIME}({compiler.process(column, **kw)}, {compiler.process(zone, **kw)})"


def _sqlite_localtime(value: str | None, zone: str) -> str | None:
    """SQLite's ``ic_localtime``: a stored UTC time (naive text) as wall-clock text in ``zone``."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    utc = parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
    return utc.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def _prepare(session: Session) -> None:
    """Give a SQLite connection the zone conversion the office-hours query uses (PostgreSQL has its own)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.driver_connection
        raw.create_function(_SQLITE_LOCALTIME, 2, _sqlite_localtime, deterministic=True)  # type: ignore[union-attr]


# -- one query per kind ------------------------------------------------------------------------------------------

_E = AccessEvent
Column = ColumnElement[Any] | InstrumentedAttribute[Any]


def _only_one(column: Column) -> ColumnElement[Any]:
    """The column's value when every event of the group has the same one, else NULL."""
    return case((func.count(func.distinct(column)) == 1, func.max(column)), else_=None)


def _study_of_event() -> ColumnElement[Any]:
    """The de-identified study an event is about: its target, or the enclosing study of a series or instance."""
    return case(
        (_E.target_kind == "study", _E.target_id),
        else_=_E.details["study"].as_string(),
    )


def _columns(flag_id: ColumnElement[Any], kind: FlagKind, actor: Column) -> list[ColumnElement[Any]]:
    return [
        flag_id.label("flag_id"),
        literal(kind.value, String()).label("kind"),
        actor.label("actor"),
        _only_one(_E.institution).label("institution"),
        _only_one(_E.patient).label("patient"),
        func.min(_E.seq).label("first_seq"),
        func.max(_E.seq).label("last_seq"),
        func.min(_E.occurred_at).label("first_at"),
        func.max(_E.occurred_at).label("last_at"),
        func.count().label("events"),
        func.count(func.distinct(_E.patient)).label("patients"),
        func.count(func.distinct(_study_of_event())).label("studies"),
    ]


def _text(value: Column) -> ColumnElement[str]:
    return cast(value, String())


def _key(kind: FlagKind, *parts: Column) -> ColumnElement[str]:
    key: ColumnElement[str] = literal(kind.value, String())
    for part in parts:
        key = key + literal(".", String()) + _text(part)
    return key


def _time_range(where: FlagFilter, margin: dt.timedelta) -> list[ColumnElement[bool]]:
    """The scan restricted to the time range, widened by ``margin`` so every window overlapping it is whole."""
    conditions: list[ColumnElement[bool]] = []
    if where.since is not None:
        conditions.append(_E.occurred_at >= where.since - margin)
    if where.until is not None:
        conditions.append(_E.occurred_at < where.until + margin)
    return conditions


def _break_glass(rules: FlagRules, where: FlagFilter) -> Select[Any]:
    opened = and_(_E.action == AuditAction.BREAK_GLASS.value, _E.decision == AuditDecision.ALLOW.value)
    session_id = case(
        (_E.basis.like("break-glass:%"), func.substr(_E.basis, len("break-glass:") + 1)),
        else_=_text(_E.details["break_glass_session"].as_integer()),
    )
    return (
        select(*_columns(_key(FlagKind.BREAK_GLASS, session_id), FlagKind.BREAK_GLASS, func.min(_E.actor)))
        .where(or_(opened, and_(_E.basis.like("break-glass:%"), _E.decision == AuditDecision.ALLOW.value)))
        .group_by(session_id)
    )


def _bulk_access(rules: FlagRules, where: FlagFilter) -> Select[Any]:
    bucket = _EpochBucket(_E.occurred_at, literal(rules.window_seconds, Integer()))
    patients = func.count(func.distinct(_E.patient))
    studies = func.count(func.distinct(_study_of_event()))
    return (
        select(*_columns(_key(FlagKind.BULK_ACCESS, bucket, _E.actor), FlagKind.BULK_ACCESS, _E.actor))
        .where(
            _E.action.in_(READ_ACTIONS),
            _E.decision == AuditDecision.ALLOW.value,
            *_time_range(where, rules.window),
        )
        .group_by(_E.actor, bucket)
        .having(or_(patients > rules.bulk_patients, studies > rules.bulk_studies))
    )


def _outside_office_hours(rules: FlagRules, where: FlagFilter) -> Select[Any]:
    local = _LocalTime(_E.occurred_at, literal(rules.timezone, String()))
    day = func.substr(local, 1, 10)
    clock = func.substr(local, 12, 5)  # HH:MM
    weekday = _Weekday(day)
    outside = or_(
        weekday >= 5,
        clock < f"{rules.office_start:%H:%M}",
        clock >= f"{rules.office_end:%H:%M}",
    )
    return (
        select(*_columns(_key(FlagKind.OUTSIDE_OFFICE_HOURS, day, _E.actor), FlagKind.OUTSIDE_OFFICE_HOURS, _E.actor))
        .where(
            _E.decision == AuditDecision.ALLOW.value,
            _E.patient.is_not(None),
            _E.actor_role.in_(STAFF_ROLES),
            outside,
            *_time_range(where, dt.timedelta(days=2)),
        )
        .group_by(_E.actor, day)
    )


class _Weekday(FunctionElement[int]):
    """ISO weekday minus one (Monday 0 … Sunday 6) of a ``YYYY-MM-DD`` text date."""

    type = Integer()
    inherit_cache = True


@compiles(_Weekday, "postgresql")
def _weekday_postgresql(element: _Weekday, compiler: Any, **kw: Any) -> str:
    (day,) = list(element.clauses)
    return f"(CAST(EXTRACT(ISODOW FROM CAST({compiler.process(day, **kw)} AS DATE)) AS INTEGER) - 1)"


@compiles(_Weekday, "sqlite")
def _weekday_sqlite(element: _Weekday, compiler: Any, **kw: Any) -> str:
    (day,) = list(element.clauses)
    return f"((CAST(strftime('%w', {compiler.process(day, **kw)}) AS INTEGER) + 6) % 7)"


def _renewed_grant(rules: FlagRules, where: FlagFilter) -> Select[Any]:
    renewed, earlier = aliased(Grant), aliased(Grant)
    expired_before = (
        select(earlier.id)
        .where(
            earlier.person_id == renewed.person_id,
            earlier.id != renewed.id,
            earlier.grantee_account_id.is_not_distinct_from(renewed.grantee_account_id),
            earlier.grantee_institution_id.is_not_distinct_from(renewed.grantee_institution_id),
            earlier.expires_at <= renewed.created_at,
            or_(earlier.revoked_at.is_(None), earlier.revoked_at >= earlier.expires_at),
        )
        .exists()
    )
    renewals = select(renewed.id.label("grant_id")).where(expired_before).subquery()
    basis = literal("grant:", String()) + _text(renewals.c.grant_id)
    return (
        select(*_columns(_key(FlagKind.RENEWED_GRANT, renewals.c.grant_id), FlagKind.RENEWED_GRANT, func.min(_E.actor)))
        .join(renewals, _E.basis == basis)
        .where(_E.basis.like("grant:%"), _E.decision == AuditDecision.ALLOW.value)
        .group_by(renewals.c.grant_id)
    )


def _repeated_denials(rules: FlagRules, where: FlagFilter) -> Select[Any]:
    bucket = _EpochBucket(_E.occurred_at, literal(rules.window_seconds, Integer()))
    return (
        select(*_columns(_key(FlagKind.REPEATED_DENIALS, bucket, _E.actor), FlagKind.REPEATED_DENIALS, _E.actor))
        .where(_E.decision == AuditDecision.DENY.value, *_time_range(where, rules.window))
        .group_by(_E.actor, bucket)
        .having(func.count() >= rules.repeated_denials)
    )


_QUERIES = {
    FlagKind.BREAK_GLASS: _break_glass,
    FlagKind.BULK_ACCESS: _bulk_access,
    FlagKind.OUTSIDE_OFFICE_HOURS: _outside_office_hours,
    FlagKind.RENEWED_GRANT: _renewed_grant,
    FlagKind.REPEATED_DENIALS: _repeated_denials,
}


def kind_of_flag_id(flag_id: str) -> FlagKind | None:
    """The kind a flag id names (its prefix), or None for an id no flag can have."""
    prefix, dot, _ = flag_id.partition(".")
    return FlagKind(prefix) if dot and prefix in {kind.value for kind in FlagKind} else None


def find_flags(
    session: Session,
    rules: FlagRules,
    where: FlagFilter,
    *,
    before: tuple[int, str] | None = None,
    limit: int = 100,
) -> list[Flag]:
    """Flags matching ``where``, most recent last event first; keyset paging with ``before`` = (last_seq, id)."""
    if not where.kinds:
        return []
    _prepare(session)
    flags = union_all(*(_QUERIES[kind](rules, where) for kind in where.kinds)).subquery("flags")
    query = select(flags, AuditFlagReview.reviewed_by, AuditFlagReview.reviewed_at, AuditFlagReview.note).outerjoin(
        AuditFlagReview, AuditFlagReview.flag_id == flags.c.flag_id
    )
    if where.flag_id is not None:
        query = query.where(flags.c.flag_id == where.flag_id)
    if where.reviewed is not None:
        query = query.where(AuditFlagReview.id.is_not(None) if where.reviewed else AuditFlagReview.id.is_(None))
    if where.since is not None:
        query = query.where(flags.c.last_at >= where.since)
    if where.until is not None:
        query = query.where(flags.c.first_at < where.until)
    if before is not None:
        seq, flag_id = before
        query = query.where(or_(flags.c.last_seq < seq, and_(flags.c.last_seq == seq, flags.c.flag_id < flag_id)))
    query = query.order_by(flags.c.last_seq.desc(), flags.c.flag_id.desc()).limit(max(1, limit))
    return [_flag(row._mapping) for row in session.execute(query)]


def _utc(value: Any) -> dt.datetime:
    """An aggregate of a time column (SQLite returns MIN/MAX of stored text, PostgreSQL a datetime)."""
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _flag(row: Any) -> Flag:
    return Flag(
        id=str(row["flag_id"]),
        kind=FlagKind(row["kind"]),
        actor=str(row["actor"]),
        institution=row["institution"],
        patient=row["patient"],
        first_seq=int(row["first_seq"]),
        last_seq=int(row["last_seq"]),
        first_at=_utc(row["first_at"]),
        last_at=_utc(row["last_at"]),
        events=int(row["events"]),
        patients=int(row["patients"]),
        studies=int(row["studies"]),
        reviewed_by=row["reviewed_by"],
        reviewed_at=_utc(row["reviewed_at"]) if row["reviewed_at"] is not None else None,
        note=row["note"],
    )


def find_flag(session: Session, rules: FlagRules, flag_id: str) -> Flag | None:
    """The one flag with this id, if the chain (still) raises it under the current rules."""
    kind = kind_of_flag_id(flag_id)
    if kind is None:
        return None
    found = find_flags(session, rules, FlagFilter(kinds=(kind,), flag_id=flag_id), limit=1)
    return found[0] if found else None
