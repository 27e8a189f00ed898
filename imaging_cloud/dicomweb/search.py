"""QIDO-RS searches over the index: filtered in SQL from what the principal may see, answered from stored JSON.

A study, series or instance is a result only if at least one *visible* instance row of it (``instances_in_scope``)
satisfies every matching key, so a hospital never finds what another hospital uploaded, even inside a study they
share. Counts and ModalitiesInStudy are computed over visible instances only. No object is ever opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydicom.tag import Tag
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from auth.principals import Principal
from imaging_cloud.access.visibility import AuthorizedStudy, instances_in_scope, scope_of_principal, studies_in_scope
from imaging_cloud.dicomweb.matching import Level, condition
from imaging_cloud.dicomweb.query_parameters import MAXIMUM_RESULTS, SearchQuery
from imaging_cloud.dicomweb.urls import ResourceUrls
from imaging_cloud.studies.models import Instance, Series, Study


def _tags(*keywords: str) -> frozenset[str]:
    return frozenset(f"{int(Tag(k)):08X}" for k in keywords)


#: PS3.18 Table 10.6.3-3: attributes returned when no ``includefield`` asks for more.
STUDY_DEFAULTS = _tags(
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "InstanceAvailability",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_DEFAULTS = _tags(
    "Modality",
    "TimezoneOffsetFromUTC",
    "SeriesDescription",
    "RetrieveURL",
    "SeriesInstanceUID",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "RequestAttributesSequence",
)
INSTANCE_DEFAULTS = _tags(
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceAvailability",
    "TimezoneOffsetFromUTC",
    "RetrieveURL",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
)
_DEFAULTS = {
    Level.STUDY: STUDY_DEFAULTS,
    Level.SERIES: STUDY_DEFAULTS | SERIES_DEFAULTS,
    Level.INSTANCE: STUDY_DEFAULTS | SERIES_DEFAULTS | INSTANCE_DEFAULTS,
}
_Statement = TypeVar("_Statement", bound=Select[*tuple[Any, ...]])
_RETRIEVE_URL = "00081190"
_AVAILABILITY = "00080056"


@dataclass(frozen=True)
class SearchResult:
    """DICOM JSON objects of one page; ``truncated`` when the server's own maximum cut the page short."""

    items: list[dict[str, Any]]
    truncated: bool


@dataclass(frozen=True)
class _Context:
    session: Session
    visible: ColumnElement[bool]
    """``instances_in_scope`` of the principal: every row considered passes it."""
    visible_study: ColumnElement[bool]
    query: SearchQuery
    urls: ResourceUrls


def _value(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def _select(available: dict[str, Any], level: Level, query: SearchQuery) -> dict[str, Any]:
    if query.include.all:
        wanted = set(available)
    else:
        wanted = set(_DEFAULTS[level]) | query.include.tags | query.matched_tags
        wanted |= {"0020000D"} | ({"0020000E"} if level is not Level.STUDY else set())
    return {tag: available[tag] for tag in sorted(wanted) if tag in available}


def _missing_includes(level: Level, query: SearchQuery, available: Iterable[dict[str, Any]]) -> bool:
    """Whether an ``includefield`` names an attribute the level's stored JSON lacks (then ask an instance)."""
    if level is Level.INSTANCE or not query.include.tags:
        return False
    return any(not query.include.tags <= item.keys() for item in available)


def _representatives(ctx: _Context, group: Any, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The full metadata of the first visible instance of each study / series in ``ids``."""
    first = select(func.min(Instance.id)).where(ctx.visible, group.in_(ids)).group_by(group)
    rows = ctx.session.execute(select(group, Instance.attributes).where(Instance.id.in_(first)))
    return {int(key): dict(attributes) for key, attributes in rows}


def _fill_includes(ctx: _Context, level: Level, group: Any, available: dict[int, dict[str, Any]]) -> None:
    if not _missing_includes(level, ctx.query, available.values()):
        return
    for key, attributes in _representatives(ctx, group, list(available)).items():
        for tag in ctx.query.include.tags:
            if tag not in available[key] and tag in attributes:
                available[key][tag] = attributes[tag]


def _matching(ctx: _Context, column: Any, study: AuthorizedStudy | None, series_uid: str | None) -> Select[Any]:
    """The ``column`` of every visible instance row satisfying all matching keys (within the scope)."""
    statement = (
        select(column)
        .select_from(Instance)
        .join(Series, Series.id == Instance.series_id)
        .join(Study, Study.id == Instance.study_id)
        .where(ctx.visible, *(condition(f, fuzzy=ctx.query.fuzzy) for f in ctx.query.filters))
    )
    if study is not None:
        statement = statement.where(Instance.study_id == study.study.id)
    if series_uid is not None:
        statement = statement.where(Series.series_uid == series_uid)
    return statement


def _page(statement: _Statement, query: SearchQuery) -> _Statement:
    return statement.offset(query.offset).limit(query.effective_limit + 1)


def _truncated(rows: list[Any], query: SearchQuery) -> tuple[list[Any], bool]:
    limit = query.effective_limit
    if len(rows) <= limit:
        return rows, False
    return rows[:limit], query.limit is None or query.limit > MAXIMUM_RESULTS


def _search_studies(ctx: _Context) -> SearchResult:
    session = ctx.session
    statement = (
        select(Study)
        .where(ctx.visible_study, Study.id.in_(_matching(ctx, Instance.study_id, None, None)))
        .order_by(Study.study_date.desc(), Study.study_time.desc(), Study.id.desc())
    )
    studies, truncated = _truncated(list(session.scalars(_page(statement, ctx.query))), ctx.query)
    ids = [s.id for s in studies]
    counts = {
        study_id: (int(series), int(instances))
        for study_id, series, instances in session.execute(
            select(Instance.study_id, func.count(func.distinct(Instance.series_id)), func.count(Instance.id))
            .where(ctx.visible, Instance.study_id.in_(ids))
            .group_by(Instance.study_id)
        )
    }
    modalities: dict[int, set[str]] = {}
    for study_id, modality in session.execute(
        select(Instance.study_id, Series.modality)
        .join(Series, Series.id == Instance.series_id)
        .where(ctx.visible, Instance.study_id.in_(ids))
        .distinct()
    ):
        if modality:
            modalities.setdefault(study_id, set()).add(modality)
    available: dict[int, dict[str, Any]] = {}
    for study in studies:
        n_series, n_instances = counts.get(study.id, (0, 0))
        available[study.id] = {
            **study.attributes,
            "00080061": _value("CS", *sorted(modalities.get(study.id, ()))),
            "00201206": _value("IS", n_series),
            "00201208": _value("IS", n_instances),
            _AVAILABILITY: _value("CS", "ONLINE"),
            _RETRIEVE_URL: _value("UR", ctx.urls.study(study.study_uid)),
        }
    _fill_includes(ctx, Level.STUDY, Instance.study_id, available)
    return SearchResult([_select(available[s.id], Level.STUDY, ctx.query) for s in studies], truncated)


def _search_series(ctx: _Context, study: AuthorizedStudy | None) -> SearchResult:
    session = ctx.session
    statement = (
        select(Series, Study)
        .join(Study, Study.id == Series.study_id)
        .where(Series.id.in_(_matching(ctx, Instance.series_id, study, None)))
        .order_by(Study.id, Series.series_number.is_(None), Series.series_number, Series.id)
    )
    rows, truncated = _truncated(list(session.execute(_page(statement, ctx.query)).all()), ctx.query)
    ids = [series.id for series, _ in rows]
    counts = {
        series_id: int(count)
        for series_id, count in session.execute(
            select(Instance.series_id, func.count(Instance.id))
            .where(ctx.visible, Instance.series_id.in_(ids))
            .group_by(Instance.series_id)
        )
    }
    available: dict[int, dict[str, Any]] = {}
    for series, parent in rows:
        url = ctx.urls.series(parent.study_uid, series.series_uid)
        available[series.id] = {
            **parent.attributes,
            **series.attributes,
            "00201209": _value("IS", counts.get(series.id, 0)),
            _AVAILABILITY: _value("CS", "ONLINE"),
            _RETRIEVE_URL: _value("UR", url),
        }
    _fill_includes(ctx, Level.SERIES, Instance.series_id, available)
    return SearchResult([_select(available[s.id], Level.SERIES, ctx.query) for s, _ in rows], truncated)


def _search_instances(ctx: _Context, study: AuthorizedStudy | None, series_uid: str | None) -> SearchResult:
    statement = (
        select(Instance, Series, Study)
        .join(Series, Series.id == Instance.series_id)
        .join(Study, Study.id == Instance.study_id)
        .where(Instance.id.in_(_matching(ctx, Instance.id, study, series_uid)))
        .order_by(
            Instance.study_id,
            Instance.series_id,
            Instance.instance_number.is_(None),
            Instance.instance_number,
            Instance.id,
        )
    )
    rows, truncated = _truncated(list(ctx.session.execute(_page(statement, ctx.query)).all()), ctx.query)
    items = []
    for instance, series, parent in rows:
        url = ctx.urls.instance(parent.study_uid, series.series_uid, instance.sop_uid)
        available = {
            **parent.attributes,
            **series.attributes,
            **instance.attributes,
            _AVAILABILITY: _value("CS", "ONLINE"),
            _RETRIEVE_URL: _value("UR", url),
        }
        items.append(_select(available, Level.INSTANCE, ctx.query))
    return SearchResult(items, truncated)


def search(
    session: Session,
    principal: Principal,
    level: Level,
    query: SearchQuery,
    *,
    urls: ResourceUrls,
    study: AuthorizedStudy | None = None,
    series_uid: str | None = None,
) -> SearchResult:
    """One page of ``level`` results visible to ``principal`` (within ``study`` / ``series_uid`` if given)."""
    # The consent facts, loaded once for both filters (inside a study: the very facts its authorization weighed).
    scope = study.scope if study is not None and study.scope is not None else scope_of_principal(session, principal)
    ctx = _Context(
        session=session,
        visible=instances_in_scope(scope),
        visible_study=studies_in_scope(scope),
        query=query,
        urls=urls,
    )
    if level is Level.STUDY:
        return _search_studies(ctx)
    if level is Level.SERIES:
        return _search_series(ctx, study)
    return _search_instances(ctx, study, series_uid)
