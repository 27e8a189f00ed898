"""Who viewed my data (谁看过我的资料): every recorded access to the person's data by someone else, newest first,
each as the API's plain Chinese sentence, and above them every emergency (break-glass) session, prominently.

The events and the sentences are the API's (``/persons/{ref}/access-log``, ``/persons/{ref}/break-glass``);
the page only arranges them and marks the basis (authorization, one-time code, emergency) for the eye.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from imaging_cloud.web.patient_frame import PatientSession, listed, person_path, render_patient
from imaging_cloud.web.session import WebSession

router = APIRouter(prefix="/access-log")


@router.get("")
async def access_log(
    request: Request,
    before: Annotated[int | None, Query(ge=1)] = None,
    session: WebSession = PatientSession,
) -> Response:
    page = await listed(session, person_path(session, "/access-log"), before=before)
    first_page = page is not None and before is None
    break_glass = await listed(session, person_path(session, "/break-glass")) if first_page else None
    return await render_patient(
        request,
        "patient/access_log.html",
        session,
        events=page["events"] if page is not None else None,
        next_before=page["next_before"] if page is not None else None,
        break_glass=break_glass or [],
    )
