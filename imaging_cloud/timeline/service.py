"""Building a person's timeline from the index, filtered in SQL by what the caller may see.

The duplicate-exam hint: a study is "similar" to an earlier one of the same person when they share a modality
and a body part (or either has no body part recorded) and the earlier one is at most ``window_days`` older. A
doctor about to order an exam sees the recent same-modality, same-body-part studies that already exist, so the
patient is not scanned twice (a frequent waste the regional cloud is meant to end).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth.principals import Principal
from imaging_cloud.access.visibility import scope_of_principal, studies_in_scope
from imaging_cloud.identity.models import Institution, Person
from imaging_cloud.reports.models import Report
from imaging_cloud.studies.models import Instance, Series, Study

DEFAULT_WINDOW_DAYS = 90


@dataclass(frozen=True)
class TimelineStudy:
    study_uid: str
    study_date: str
    description: str
    institution_code: str
    institution_name: str
    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    series_count: int
    instance_count: int
    report_count: int
    recent_similar: tuple[str, ...] = field(default=())
    """Study UIDs of earlier studies within the window with the same modality and body part."""

    @property
    def report_status(self) -> str:
        return "available" if self.report_count else "none"


def _date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date() if value else None
    except ValueError:
        return None


def _similar(a: TimelineStudy, b: TimelineStudy) -> bool:
    if set(a.modalities).isdisjoint(b.modalities):
        return False
    # An unrecorded body part cannot rule a repeat out.
    return not (a.body_parts and b.body_parts and set(a.body_parts).isdisjoint(b.body_parts))


def recent_similar(
    studies: list[TimelineStudy], window_days: int, *, modality: str | None = None, body_part: str | None = None
) -> dict[str, tuple[str, ...]]:
    """For each study, the earlier similar studies within ``window_days`` (pure; for the timeline and tests)."""
    window = dt.timedelta(days=window_days)
    dated = [(study, _date(study.study_date)) for study in studies]
    result: dict[str, tuple[str, ...]] = {}
    for study, day in dated:
        if day is None:
            result[study.study_uid] = ()
            continue
        result[study.study_uid] = tuple(
            other.study_uid
            for other, other_day in dated
            if other is not study
            and other_day is not None
            and dt.timedelta(0) <= day - other_day <= window
            and (other_day, other.study_uid) < (day, study.study_uid)
            and _similar(study, other)
        )
    return result


def _split(value: str) -> tuple[str, ...]:
    return tuple(sorted({part for part in value.split("\\") if part}))


def person_timeline(
    session: Session, principal: Principal, person: Person, window_days: int = DEFAULT_WINDOW_DAYS
) -> list[TimelineStudy]:
    """The person's studies the principal may see, newest first, each with its recent similar studies."""
    visible = studies_in_scope(scope_of_principal(session, principal))
    rows = session.execute(
        select(Study, Institution.code, Institution.name)
        .join(Institution, Institution.id == Study.institution_id)
        .where(Study.person_id == person.id, visible)
        .order_by(Study.study_date.desc(), Study.id.desc())
    ).all()
    study_ids = [study.id for study, _, _ in rows]
    series_counts: dict[int, int] = defaultdict(int)
    instance_counts: dict[int, int] = defaultdict(int)
    report_counts: dict[int, int] = defaultdict(int)
    modalities: dict[int, set[str]] = defaultdict(set)
    body_parts: dict[int, set[str]] = defaultdict(set)
    if study_ids:
        for study_id, modality, body_part in session.execute(
            select(Series.study_id, Series.modality, Series.body_part).where(Series.study_id.in_(study_ids))
        ):
            series_counts[study_id] += 1
            if modality:
                modalities[study_id].add(modality)
            if body_part:
                body_parts[study_id].add(body_part.upper())
        for study_id, count in session.execute(
            select(Instance.study_id, func.count()).where(Instance.study_id.in_(study_ids)).group_by(Instance.study_id)
        ):
            instance_counts[study_id] = count
        for study_id, count in session.execute(
            select(Report.study_id, func.count()).where(Report.study_id.in_(study_ids)).group_by(Report.study_id)
        ):
            report_counts[study_id] = count
    studies = [
        TimelineStudy(
            study_uid=study.study_uid,
            study_date=study.study_date,
            description=study.study_description,
            institution_code=code,
            institution_name=name,
            modalities=tuple(sorted(modalities[study.id])) or _split(study.modalities),
            body_parts=tuple(sorted(body_parts[study.id])) or _split(study.body_parts.upper()),
            series_count=series_counts[study.id],
            instance_count=instance_counts[study.id],
            report_count=report_counts[study.id],
        )
        for study, code, name in rows
    ]
    hints = recent_similar(studies, window_days)
    return [replace(study, recent_similar=hints[study.study_uid]) for study in studies]


def duplicate_candidates(
    timeline: list[TimelineStudy], modality: str, body_part: str | None, today: dt.date, window_days: int
) -> list[TimelineStudy]:
    """Studies in ``timeline`` within ``window_days`` before ``today`` matching a planned exam."""
    planned = TimelineStudy(
        study_uid="planned",
        study_date=today.strftime("%Y%m%d"),
        description="",
        institution_code="",
        institution_name="",
        modalities=(modality.upper(),),
        body_parts=(body_part.upper(),) if body_part else (),
        series_count=0,
        instance_count=0,
        report_count=0,
    )
    earlier = [study for study in timeline if study.study_date <= planned.study_date]
    hints = recent_similar([*earlier, planned], window_days)
    similar = set(hints["planned"])
    return [study for study in timeline if study.study_uid in similar]
