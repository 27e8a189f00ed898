"""Which stored instances a WADO-RS request may read: an ``AuthorizedStudy`` narrowed to visible instances.

``authorize_study`` answers 404 (not visible) or 403 (visible, action not allowed); inside the study only
rows the access's own scope admits (``StudyAccess.visible_instances``: the consent facts the decision weighed, not
loaded a second time) are returned, so a hospital reads back only what it uploaded and another hospital's
series or instance in a shared study is a 404 exactly like one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.policy import Action
from auth.principals import Principal
from imaging_cloud.access.visibility import AuthorizedStudy, authorize_study
from imaging_cloud.errors import NotFound
from imaging_cloud.studies.models import Instance, Series, Study


@dataclass(frozen=True)
class StoredInstance:
    """What the read side needs of one instance, detached from the session (streaming outlives it)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    object_key: str
    transfer_syntax_uid: str
    number_of_frames: int
    has_pixels: bool
    attributes: dict[str, Any] | None = None
    """The instance's DICOM JSON (without bulk data), loaded only when asked for."""


@dataclass(frozen=True)
class Target:
    """The resource named by a WADO-RS path: a study, or a series in it, or an instance in that series."""

    study_uid: str
    series_uid: str | None = None
    sop_uid: str | None = None


def authorized_instances(
    session: Session,
    principal: Principal,
    action: Action,
    target: Target,
    *,
    with_attributes: bool = False,
) -> tuple[AuthorizedStudy, list[StoredInstance]]:
    """The authorized study (its decision is the audit event's basis) and the visible instances of ``target`` in
    series/instance order; 404/403 as described in the module."""
    study = authorize_study(session, principal, action, target.study_uid)
    return study, instances_of(session, study, target, with_attributes=with_attributes)


def instances_of(
    session: Session,
    study: AuthorizedStudy,
    target: Target,
    *,
    with_attributes: bool = False,
) -> list[StoredInstance]:
    columns: list[Any] = [
        Study.study_uid,
        Series.series_uid,
        Instance.sop_uid,
        Instance.sop_class_uid,
        Instance.object_key,
        Instance.transfer_syntax_uid,
        Instance.number_of_frames,
        Instance.rows,
    ]
    if with_attributes:
        columns.append(Instance.attributes)
    statement = (
        select(*columns)
        .select_from(Instance)
        .join(Series, Series.id == Instance.series_id)
        .join(Study, Study.id == Instance.study_id)
        .where(Instance.study_id == study.study.id, study.visible_instances())
        .order_by(
            Series.series_number.is_(None),
            Series.series_number,
            Series.id,
            Instance.instance_number.is_(None),
            Instance.instance_number,
            Instance.id,
        )
    )
    if study.institution_id is not None:
        statement = statement.where(Instance.institution_id == study.institution_id)
    if target.series_uid is not None:
        statement = statement.where(Series.series_uid == target.series_uid)
    if target.sop_uid is not None:
        statement = statement.where(Instance.sop_uid == target.sop_uid)
    found = [
        StoredInstance(
            study_uid=row[0],
            series_uid=row[1],
            sop_uid=row[2],
            sop_class_uid=row[3],
            object_key=row[4],
            transfer_syntax_uid=row[5],
            number_of_frames=row[6] or 1,
            has_pixels=row[7] is not None,
            attributes=dict(row[8]) if with_attributes else None,
        )
        for row in session.execute(statement)
    ]
    if not found:
        if target.sop_uid is not None:
            raise NotFound("instance not found", code="instance-not-found")
        if target.series_uid is not None:
            raise NotFound("series not found", code="series-not-found")
        raise NotFound("study not found", code="study-not-found")
    return found
