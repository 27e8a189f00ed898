"""One-time codes (调阅码): the patient creates a code for a doctor in front of them, shows it as a large QR code
and in big digits with a countdown, sees their codes' states and revokes one.

The secret part of a code exists only in the API's answer to its creation (``POST /persons/{ref}/codes``; the
listing never has it). So the new code is shown as the answer to the form that created it, served no-store,
instead of the usual redirect: a redirect could only carry it in a URL (browser history, logs, the referrer) or
a cookie. ``patient-code.js`` then replaces the history entry with the plain code list, so reloading the page
lists the codes instead of creating another one.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from imaging_cloud.web.api import ApiCallFailed
from imaging_cloud.web.csrf import CsrfChecked
from imaging_cloud.web.patient_frame import (
    FormError,
    PatientSession,
    field,
    form_error,
    listed,
    person_path,
    person_studies,
    render_patient,
    seconds_until,
)
from imaging_cloud.web.patient_scope import modality_choices, scope_from_form
from imaging_cloud.web.session import WebSession
from imaging_cloud.web.templating import gettext_for, redirect

router = APIRouter(prefix="/code")

SESSION_MINUTES = (30, 60, 240, 1440)
"""How long the doctor who uses the code may look (the API allows 5 minutes to a day)."""
DEFAULT_SESSION_MINUTES = 240
CODE_LIFETIMES = (300, 600, 1800, 3600)
"""How long the code itself can be used, in seconds (the API allows 30 s to an hour)."""
DEFAULT_CODE_LIFETIME = 600


def code_body(form: FormData) -> dict[str, Any]:
    """The API's ``CodeIn`` from the form (the API judges the values)."""
    return {
        "scope": scope_from_form(form),
        "session_minutes": field(form, "session_minutes") or DEFAULT_SESSION_MINUTES,
        "ttl_seconds": field(form, "ttl_seconds") or DEFAULT_CODE_LIFETIME,
    }


def qr_data_uri(svg: str) -> str:
    """The API's QR SVG as an ``<img src>`` (the CSP allows ``data:`` images; an image runs no script)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


async def _codes_page(
    request: Request,
    session: WebSession,
    *,
    form: FormData | None = None,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    codes = await listed(session, person_path(session, "/codes"))
    studies = await person_studies(session) if codes is not None else []
    done = request.query_params.get("done")
    return await render_patient(
        request,
        "patient/codes.html",
        session,
        status_code=status_code,
        codes=codes,
        studies=studies,
        modalities=modality_choices(studies, gettext_for(request)),
        session_minutes=SESSION_MINUTES,
        code_lifetimes=CODE_LIFETIMES,
        form=form or FormData(),
        error=error,
        done="code-revoked" if done == "code-revoked" else None,
    )


@router.get("")
async def codes_page(request: Request, session: WebSession = PatientSession) -> Response:
    """The form for a new code, and the person's codes with their state (never a secret)."""
    return await _codes_page(request, session)


@router.post("")
async def create_code(request: Request, _csrf: CsrfChecked, session: WebSession = PatientSession) -> Response:
    """Create a code and show it once: QR code, the code in big digits, the time left to use it."""
    form = await request.form()
    try:
        issued = await session.api.post(person_path(session, "/codes"), code_body(form))
    except ApiCallFailed as failure:
        return await _codes_page(request, session, form=form, error=form_error(failure), status_code=failure.status)
    return await render_patient(
        request,
        "patient/code_shown.html",
        session,
        issued=issued,
        qr_src=qr_data_uri(issued["qr_svg"]),
        seconds_left=seconds_until(issued["expires_at"]),
    )


@router.post("/{public_id}/revoke")
async def revoke_code(
    request: Request,
    public_id: Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")],
    _csrf: CsrfChecked,
    session: WebSession = PatientSession,
) -> Response:
    """Revoke a code; if a doctor already used it, the session it opened ends too."""
    await session.api.delete(person_path(session, f"/codes/{public_id}"))
    return redirect(request, "/web/patient/code?done=code-revoked")
