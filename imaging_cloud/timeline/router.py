"""``GET /persons/{person_ref}/studies`` (the timeline) and the duplicate-exam check, for every role that may
see a person's studies: the patient, a proxy with the right to view, a doctor under consent, desk staff."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from auth.policy import Action
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.access.visibility import authorize_person
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.errors import ERROR_RESPONSES
from imaging_cloud.timeline.service import DEFAULT_WINDOW_DAYS, TimelineStudy, duplicate_candidates, person_timeline

router = APIRouter(prefix="/persons", tags=["timeline"], responses=ERROR_RESPONSES)

PersonRef = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
WindowDays = Annotated[int, Query(ge=1, le=3650)]


class TimelineEntry(BaseModel):
    study_uid: str = Field(description="The de-identified StudyInstanceUID (WADO-RS / QIDO-RS path key)")
    study_date: str
    description: str
    institution_code: str
    institution_name: str
    modalities: list[str]
    body_parts: list[str]
    series_count: int
    instance_count: int
    report_count: int
    report_status: str
    recent_similar: list[str] = Field(
        description="Earlier studies of the same modality and body part within the window (duplicate-exam hint)"
    )

    @classmethod
    def of(cls, study: TimelineStudy) -> TimelineEntry:
        return cls(
            study_uid=study.study_uid,
            study_date=study.study_date,
            description=study.description,
            institution_code=study.institution_code,
            institution_name=study.institution_name,
            modalities=list(study.modalities),
            body_parts=list(study.body_parts),
            series_count=study.series_count,
            instance_count=study.instance_count,
            report_count=study.report_count,
            report_status=study.report_status,
            recent_similar=list(study.recent_similar),
        )


class Timeline(BaseModel):
    person_ref: str
    window_days: int
    studies: list[TimelineEntry]


class DuplicateCheck(BaseModel):
    person_ref: str
    modality: str
    body_part: str | None
    window_days: int
    recent_same_exam: list[TimelineEntry] = Field(description="Visible studies a planned exam would repeat")


@router.get("/{person_ref}/studies", response_model=Timeline)
@audited(AuditAction.SEARCH, target=no_target)
def get_timeline(
    person_ref: PersonRef,
    principal: CurrentPrincipal,
    audit: Audit,
    window_days: WindowDays = DEFAULT_WINDOW_DAYS,
) -> Timeline:
    """The person's studies from every institution that the caller may see, newest first."""
    audit.about(Target(TargetKind.PERSON, person_ref), patient=person_ref)
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.SEARCH, person_ref)
        studies = person_timeline(uow.session, principal, access.person, window_days)
        audit.allow(uow.session, decision=access.decision, details={"results": len(studies), "query": "timeline"})
    return Timeline(
        person_ref=person_ref, window_days=window_days, studies=[TimelineEntry.of(study) for study in studies]
    )


@router.get("/{person_ref}/duplicate-check", response_model=DuplicateCheck)
@audited(AuditAction.SEARCH, target=no_target)
def check_duplicate_exam(
    person_ref: PersonRef,
    principal: CurrentPrincipal,
    audit: Audit,
    modality: Annotated[str, Query(min_length=1, max_length=16, pattern=r"^[A-Za-z]{1,16}$")],
    body_part: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9 _-]{1,64}$")] = None,
    window_days: WindowDays = DEFAULT_WINDOW_DAYS,
) -> DuplicateCheck:
    """Before ordering an exam: the recent studies of the same modality and body part this person already has."""
    audit.about(Target(TargetKind.PERSON, person_ref), patient=person_ref)
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.SEARCH, person_ref)
        timeline = person_timeline(uow.session, principal, access.person, window_days)
        found = duplicate_candidates(timeline, modality, body_part, dt.datetime.now(dt.UTC).date(), window_days)
        audit.allow(
            uow.session,
            decision=access.decision,
            details={"results": len(found), "query": "duplicate-check", "modality": modality.upper()},
        )
    return DuplicateCheck(
        person_ref=person_ref,
        modality=modality.upper(),
        body_part=body_part.upper() if body_part else None,
        window_days=window_days,
        recent_same_exam=[TimelineEntry.of(study) for study in found],
    )
