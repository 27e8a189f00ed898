"""QIDO-RS (PS3.18 §10.6): search for studies, series and instances, answered in ``application/dicom+json``.

An empty result is ``200`` with ``[]`` (PS3.18 since 2019; clients such as dicomweb-client read both this and the
older ``204``). A page cut short by the server's own maximum carries ``Warning: 299 …`` (PS3.18 §8.3.4.4).
Unsearchable studies in the path answer 404 (not visible) or 403 (visible, not allowed) like every other route.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from auth.policy import Action
from auth.principals import Principal
from imaging_cloud.access.guards import require_action
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.access.visibility import AuthorizedStudy, authorize_study
from imaging_cloud.audit.recorder import Audit, audited
from imaging_cloud.audit.vocabulary import AuditAction
from imaging_cloud.dicomweb.matching import Level
from imaging_cloud.dicomweb.negotiation import parse_accept, require_dicom_json
from imaging_cloud.dicomweb.query_parameters import parse_search_query
from imaging_cloud.dicomweb.search import SearchResult, search
from imaging_cloud.dicomweb.urls import ResourceUrls
from imaging_cloud.errors import ERROR_RESPONSES, NotFound
from imaging_cloud.studies.models import Instance, Series

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"], responses={**ERROR_RESPONSES, 406: {"description": "Accept"}})

_SEARCH_DOC = (
    "Matching keys by keyword or tag, `limit`, `offset`, `includefield` (repeatable, comma list, `all`), "
    "`fuzzymatching`. Answers a JSON array of DICOM JSON objects (empty array when nothing matches)."
)

#: Sent when the server's own maximum (not the client's ``limit``) cut the page short.
TRUNCATION_WARNING = '299 imaging-cloud: "There are additional results that can be requested"'


def _respond(result: SearchResult) -> JSONResponse:
    headers = {"Warning": TRUNCATION_WARNING} if result.truncated else None
    return JSONResponse(result.items, media_type="application/dicom+json", headers=headers)


def _run(
    request: Request,
    audit: Audit,
    principal: Principal,
    level: Level,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> JSONResponse:
    require_dicom_json(parse_accept(request.headers.getlist("accept")))
    query = parse_search_query(request.query_params.multi_items(), level)
    with audit.transaction() as uow:
        session = uow.session
        study: AuthorizedStudy | None = None
        if study_uid is not None:
            study = authorize_study(session, principal, Action.SEARCH, study_uid)
        if study is not None and series_uid is not None:
            _require_visible_series(session, study, series_uid)
        result = search(
            session,
            principal,
            level,
            query,
            urls=ResourceUrls.of(request),
            study=study,
            series_uid=series_uid,
        )
        # The query's keys, never its values (a value may be a name someone typed), and how much it found.
        keys = sorted({key for key, _value in request.query_params.multi_items()})
        details = {"level": level.value, "query_keys": keys, "results": len(result.items)}
        audit.allow(session, access=study, details=details)
    return _respond(result)


def _require_visible_series(session: Session, study: AuthorizedStudy, series_uid: str) -> None:
    """404 unless the series belongs to the study and holds an instance the principal may see."""
    visible = session.scalar(
        select(
            exists()
            .where(Instance.series_id == Series.id)
            .where(Series.series_uid == series_uid, Instance.study_id == study.study.id)
            .where(study.visible_instances())
        )
    )
    if not visible:
        raise NotFound("series not found", code="series-not-found")


@router.get("/studies", description=_SEARCH_DOC, dependencies=[Depends(require_action(Action.SEARCH))])
@audited(AuditAction.SEARCH)
def search_for_studies(request: Request, principal: CurrentPrincipal, audit: Audit) -> JSONResponse:
    return _run(request, audit, principal, Level.STUDY)


@router.get("/series", description=_SEARCH_DOC, dependencies=[Depends(require_action(Action.SEARCH))])
@audited(AuditAction.SEARCH)
def search_for_series(request: Request, principal: CurrentPrincipal, audit: Audit) -> JSONResponse:
    return _run(request, audit, principal, Level.SERIES)


@router.get("/instances", description=_SEARCH_DOC, dependencies=[Depends(require_action(Action.SEARCH))])
@audited(AuditAction.SEARCH)
def search_for_instances(request: Request, principal: CurrentPrincipal, audit: Audit) -> JSONResponse:
    return _run(request, audit, principal, Level.INSTANCE)


@router.get("/studies/{study}/series", description=_SEARCH_DOC)
@audited(AuditAction.SEARCH)
def search_for_series_in_study(study: str, request: Request, principal: CurrentPrincipal, audit: Audit) -> JSONResponse:
    return _run(request, audit, principal, Level.SERIES, study_uid=study)


@router.get("/studies/{study}/instances", description=_SEARCH_DOC)
@audited(AuditAction.SEARCH)
def search_for_instances_in_study(
    study: str, request: Request, principal: CurrentPrincipal, audit: Audit
) -> JSONResponse:
    return _run(request, audit, principal, Level.INSTANCE, study_uid=study)


@router.get("/studies/{study}/series/{series}/instances", description=_SEARCH_DOC)
@audited(AuditAction.SEARCH)
def search_for_instances_in_series(
    study: str, series: str, request: Request, principal: CurrentPrincipal, audit: Audit
) -> JSONResponse:
    return _run(request, audit, principal, Level.INSTANCE, study_uid=study, series_uid=series)
