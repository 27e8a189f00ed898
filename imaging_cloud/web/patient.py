"""The patient portal (and a family proxy acting for someone): the timeline of one's studies across hospitals,
and, from the ``patient_*`` modules mounted here, authorizations, one-time codes, family and the access log.

Every page shows the data of ``session.person_ref``: one's own, or the represented person's while acting for a
family member (the banner says so). What may be shown is decided by the API the page calls.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from imaging_cloud.web import patient_access_log, patient_codes, patient_family, patient_grants
from imaging_cloud.web.patient_frame import TIMELINE_WINDOW_DAYS, PatientSession, person_path, render_patient
from imaging_cloud.web.patient_words import with_names
from imaging_cloud.web.session import WebSession
from imaging_cloud.web.templating import gettext_for

router = APIRouter(prefix="/web/patient", include_in_schema=False)


@router.get("/")
async def timeline(request: Request, session: WebSession = PatientSession) -> Response:
    """Every study and report of the person, newest first, across all institutions."""
    found = await session.api.get(person_path(session, "/studies"), window_days=TIMELINE_WINDOW_DAYS)
    gettext = gettext_for(request)
    studies = [with_names(study, gettext) for study in found["studies"]]
    return await render_patient(request, "patient/timeline.html", session, studies=studies)


for area in (patient_grants, patient_codes, patient_family, patient_access_log):
    router.include_router(area.router)
