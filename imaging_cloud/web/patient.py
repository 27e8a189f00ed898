"""The patient portal (and a family proxy acting for someone): the timeline of one's studies across hospitals.

Every page shows the data of ``session.person_ref``: one's own, or the represented person's while acting for a
family member (the banner says so). What may be shown is decided by the API the page calls.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from auth.principals import Role
from imaging_cloud.web.session import WebSession, require_roles
from imaging_cloud.web.templating import render

router = APIRouter(prefix="/web/patient", include_in_schema=False)
PatientSession = require_roles(Role.PATIENT, Role.PROXY)

TIMELINE_WINDOW_DAYS = 3650


@router.get("/")
async def timeline(request: Request, session: WebSession = PatientSession) -> Response:
    """Every study and report of the person, newest first, across all institutions."""
    found = await session.api.get(f"/persons/{session.person_ref}/studies", window_days=TIMELINE_WINDOW_DAYS)
    return render(request, "patient/timeline.html", session, studies=found["studies"])
