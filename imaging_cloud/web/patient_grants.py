"""Authorizations (授权管理): the patient lets one doctor or a whole hospital see some or all of their studies
until a date, revokes that, and sees each use of it.

Everything goes through the consent API (``/persons/{ref}/grants``): the page builds ``GrantIn`` from the form
and shows what the API answers, a refusal of the form (422: no such doctor, a bad scope…) on the form itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
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
)
from imaging_cloud.web.patient_scope import modality_choices, scope_from_form
from imaging_cloud.web.session import WebSession
from imaging_cloud.web.templating import gettext_for, redirect

router = APIRouter(prefix="/grants")

_DONE = frozenset({"grant-created", "grant-revoked"})


def grant_body(form: FormData) -> dict[str, Any]:
    """The API's ``GrantIn`` from the form: the grantee chosen by the radio button, the scope, purpose and days."""
    if field(form, "grantee_kind") == "institution":
        grantee = {"institution": field(form, "institution").upper()}
    else:
        grantee = {"doctor": field(form, "doctor")}
    return {
        "grantee": grantee,
        "scope": scope_from_form(form),
        "purpose": field(form, "purpose"),
        "days": field(form, "days") or None,
    }


async def _grants_page(
    request: Request,
    session: WebSession,
    *,
    form: FormData | None = None,
    error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    grants = await listed(session, person_path(session, "/grants"))
    studies = await person_studies(session) if grants is not None else []
    institutions = sorted({(s["institution_code"], s["institution_name"]) for s in studies})
    done = request.query_params.get("done")
    return await render_patient(
        request,
        "patient/grants.html",
        session,
        status_code=status_code,
        grants=grants,
        studies=studies,
        modalities=modality_choices(studies, gettext_for(request)),
        institutions=institutions,
        form=form or FormData(),
        error=error,
        done=done if done in _DONE else None,
    )


@router.get("")
async def grants_page(request: Request, session: WebSession = PatientSession) -> Response:
    """The person's authorizations with their state, and the form for a new one."""
    return await _grants_page(request, session)


@router.post("")
async def create_grant(request: Request, _csrf: CsrfChecked, session: WebSession = PatientSession) -> Response:
    form = await request.form()
    try:
        await session.api.post(person_path(session, "/grants"), grant_body(form))
    except ApiCallFailed as failure:
        return await _grants_page(request, session, form=form, error=form_error(failure), status_code=failure.status)
    return redirect(request, "/web/patient/grants?done=grant-created")


@router.post("/{grant_id}/revoke")
async def revoke_grant(
    request: Request, grant_id: int, _csrf: CsrfChecked, session: WebSession = PatientSession
) -> Response:
    """Revoke at once (the doctor's next request is refused); revoking twice changes nothing."""
    await session.api.delete(person_path(session, f"/grants/{grant_id}"))
    return redirect(request, "/web/patient/grants?done=grant-revoked")


@router.get("/{grant_id}/uses")
async def grant_uses(
    request: Request,
    grant_id: int,
    before: Annotated[int | None, Query(ge=1)] = None,
    session: WebSession = PatientSession,
) -> Response:
    """Every recorded access that rested on this authorization, newest first, a page at a time."""
    grants = await session.api.get(person_path(session, "/grants"))
    grant = next((g for g in grants if g["id"] == grant_id), None)
    uses = await session.api.get(person_path(session, f"/grants/{grant_id}/uses"), before=before)
    return await render_patient(
        request,
        "patient/grant_uses.html",
        session,
        grant=grant,
        events=uses["events"],
        next_before=uses["next_before"],
    )
