"""The study page: the study's facts, its series as thumbnails, the image viewer and the reports beside the images.

Open to every signed-in role; whether this person may see this study is the API's decision (a patient their own
studies, a family proxy the represented person's, a doctor under consent, …): the first call, QIDO-RS for the
study's series, answers 404 or 403 otherwise, and the page becomes that error page. The browser's viewer
(``static/js/viewer.js``) then loads each image from WADO-RS ``/rendered`` itself, with its own cookie, so every
image shown is authorized and recorded like any other API read.

The patient's name is not shown, neither in the study's facts nor in the viewer's overlay: the stored objects are
de-identified and no API gives a viewer the person's name. (A family proxy's banner names, masked, whom they act
for, as on every page, from the proxy's own ``/me/represented``.)
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from imaging_cloud.web.api import ApiCallFailed, ApiClient
from imaging_cloud.web.report_display import ShownReport, shown_report
from imaging_cloud.web.session import CurrentWebSession, represented_name
from imaging_cloud.web.sign_in import HOME_OF_ROLE
from imaging_cloud.web.templating import render
from imaging_cloud.web.viewer_model import (
    INSTANCE_FIELDS,
    SERIES_FIELDS,
    ViewerSeries,
    first_value,
    series_order,
    text,
    viewer_series,
)

router = APIRouter(prefix="/web/studies", include_in_schema=False)

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_MAX_UID = 64
#: QIDO-RS pages of instances are read until the server stops signalling more; at most this many in all.
MAX_INSTANCES_PER_SERIES = 10_000
#: How far back the person's timeline is asked for the study's hospital (the timeline's own maximum).
TIMELINE_WINDOW_DAYS = 3650
_STUDY_FIELDS = "StudyDescription,ModalitiesInStudy,StudyDate,PatientID"
_PATIENT_ID = "00100020"


async def _instances(api: ApiClient, study_uid: str, series_uid: str) -> list[dict[str, Any]]:
    """Every instance of the series (QIDO-RS pages of up to the server's maximum, followed by offset)."""
    found: list[dict[str, Any]] = []
    path = f"/dicomweb/studies/{study_uid}/series/{series_uid}/instances"
    while len(found) < MAX_INSTANCES_PER_SERIES:
        params = {"includefield": ",".join(INSTANCE_FIELDS), "offset": str(len(found))}
        response = await api.request("GET", path, params=params)
        page = response.json()
        found.extend(page)
        if not page or "warning" not in response.headers:
            break
    return found


async def _series(api: ApiClient, study_uid: str, series_list: list[dict[str, Any]]) -> list[ViewerSeries]:
    ordered = sorted(series_list, key=series_order)
    instance_lists = await asyncio.gather(*(_instances(api, study_uid, text(s, "0020000E")) for s in ordered))
    built = (viewer_series(series, instances) for series, instances in zip(ordered, instance_lists, strict=True))
    return [series for series in built if series is not None]


async def _report(api: ApiClient, listed: dict[str, Any]) -> ShownReport:
    response = await api.request("GET", str(listed["url"]))
    return await run_in_threadpool(shown_report, listed, response.content, response.charset_encoding)


async def _reports(api: ApiClient, study_uid: str) -> list[ShownReport]:
    listed = await api.get(f"/studies/{study_uid}/reports")
    return list(await asyncio.gather(*(_report(api, item) for item in listed)))


async def _hospital(api: ApiClient, study: Mapping[str, Any], study_uid: str) -> str | None:
    """The name of the hospital that uploaded the study, from the person's timeline.

    The objects' own InstitutionName is de-identified; the timeline knows the uploading institution. Whoever may
    see the study may normally see that person's timeline; if not, the page goes without the hospital's name.
    """
    person_ref = first_value(study, _PATIENT_ID)
    if not person_ref:
        return None
    try:
        timeline = await api.get(f"/persons/{person_ref}/studies", window_days=TIMELINE_WINDOW_DAYS)
    except ApiCallFailed as refused:
        if refused.status in (403, 404):
            return None
        raise
    entry = next((s for s in timeline["studies"] if s["study_uid"] == study_uid), None)
    return str(entry["institution_name"]) if entry else None


@router.get("/{study_uid}")
async def study_page(
    request: Request, study_uid: str, session: CurrentWebSession, series: str | None = None
) -> Response:
    """The study with its viewer and reports; ``series`` (a SeriesInstanceUID) chooses the series shown first."""
    if len(study_uid) > _MAX_UID or not _UID.fullmatch(study_uid):
        return render(request, "error.html", session, status_code=404, code="study-not-found")
    api = session.api
    # The authorization: 404 (not visible) or 403 (visible, not allowed) ends here as the API's error page.
    series_list = await api.get(f"/dicomweb/studies/{study_uid}/series", includefield=",".join(SERIES_FIELDS))
    studies, image_series, reports = await asyncio.gather(
        api.get("/dicomweb/studies", StudyInstanceUID=study_uid, includefield=_STUDY_FIELDS),
        _series(api, study_uid, series_list),
        _reports(api, study_uid),
    )
    if not studies:  # the study went out of sight between the two calls (consent revoked meanwhile)
        return render(request, "error.html", session, status_code=404, code="study-not-found")
    study = studies[0]
    hospital = await _hospital(api, study, study_uid)
    selected = next((i for i, s in enumerate(image_series) if s.series_uid == series), 0)
    viewer_data = {"study": study_uid, "selected": selected, "series": [s.as_json() for s in image_series]}
    return render(
        request,
        "study/study.html",
        session,
        study_uid=study_uid,
        description=text(study, "00081030"),
        study_date=text(study, "00080020"),
        modalities=(study.get("00080061") or {}).get("Value") or [],
        hospital=hospital,
        image_series=image_series,
        selected=selected,
        viewer_data=viewer_data,
        reports=reports,
        image_count=sum(s.image_count for s in image_series),
        home=HOME_OF_ROLE.get(session.role, "/web/"),
        acting_name=await represented_name(session),
    )
