"""Family (亲情账号): the patient's family members who may act for them (add, remove), the people the patient may
act for, and acting for one of them — then back to one's own account.

Acting for someone is the API's proxy token (``POST /auth/act-for``, asked with the patient's own token): the
browser then calls the API with it and the banner of every page says whom it acts for; ``act_for`` and
``stop_acting`` in ``imaging_cloud.web.session`` keep the cookies. Only the patient themself manages family links
and takes up the proxy role; a proxy token cannot (the API refuses it too).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from imaging_cloud.web.api import ApiCallFailed
from imaging_cloud.web.csrf import CsrfChecked
from imaging_cloud.web.patient_frame import (
    FormError,
    OwnPatientSession,
    PatientSession,
    field,
    form_error,
    person_path,
    render_patient,
)
from imaging_cloud.web.session import WebSession, act_for, stop_acting
from imaging_cloud.web.templating import redirect

router = APIRouter(prefix="/family")

RELATIONSHIPS = ("child", "spouse", "parent", "sibling", "guardian", "other-family")
_DONE = frozenset({"proxy-added", "proxy-removed"})


def proxy_body(form: FormData) -> dict[str, Any]:
    """The API's ``ProxyIn``: the family member by the identifier kind chosen, the relationship, the rights."""
    number = field(form, "identifier")
    if field(form, "identifier_kind") == "national_id":
        identifier = {"national_id": number.upper()}
    else:
        identifier = {"health_card": number}
    return {
        "proxy": identifier,
        "relationship": field(form, "relationship"),
        "rights": {
            "view": field(form, "right_view") == "on",
            "grant": field(form, "right_grant") == "on",
            "issue_codes": field(form, "right_issue_codes") == "on",
        },
    }


async def _family_page(
    request: Request,
    session: WebSession,
    *,
    form: FormData | None = None,
    error: FormError | None = None,
    act_error: FormError | None = None,
    status_code: int = 200,
) -> Response:
    """The page; ``error`` is a refusal of the add form (shown on it), ``act_error`` of acting for someone."""
    proxies = await session.api.get(person_path(session, "/proxies"))
    represented = await session.api.get("/me/represented")
    done = request.query_params.get("done")
    return await render_patient(
        request,
        "patient/family.html",
        session,
        status_code=status_code,
        proxies=sorted(proxies, key=lambda link: not link["active"]),
        represented=represented,
        relationships=RELATIONSHIPS,
        form=form or FormData(),
        error=error,
        act_error=act_error,
        done=done if done in _DONE else None,
    )


@router.get("")
async def family_page(request: Request, session: WebSession = OwnPatientSession) -> Response:
    return await _family_page(request, session)


@router.post("/proxies")
async def add_proxy(request: Request, _csrf: CsrfChecked, session: WebSession = OwnPatientSession) -> Response:
    """Let a family member act for me; they must already be known here (signed in once with their card)."""
    form = await request.form()
    try:
        await session.api.post(person_path(session, "/proxies"), proxy_body(form))
    except ApiCallFailed as failure:
        kept = FormData([(k, v) for k, v in form.multi_items() if k != "identifier"])  # an ID is not echoed
        return await _family_page(request, session, form=kept, error=form_error(failure), status_code=failure.status)
    return redirect(request, "/web/patient/family?done=proxy-added")


@router.post("/proxies/{proxy_id}/remove")
async def remove_proxy(
    request: Request, proxy_id: int, _csrf: CsrfChecked, session: WebSession = OwnPatientSession
) -> Response:
    """Remove a family link at once: the family member's next request is refused."""
    await session.api.delete(person_path(session, f"/proxies/{proxy_id}"))
    return redirect(request, "/web/patient/family?done=proxy-removed")


@router.post("/act-for")
async def start_acting(request: Request, _csrf: CsrfChecked, session: WebSession = OwnPatientSession) -> Response:
    """Act for a family member who linked me: their timeline, codes and log, with the banner on every page."""
    person_ref = field(await request.form(), "person_ref")
    try:
        await act_for(request, request.app.state.runtime, session.token, person_ref)
    except ApiCallFailed as failure:
        return await _family_page(request, session, act_error=form_error(failure), status_code=failure.status)
    return redirect(request, "/web/patient/")


@router.post("/stop-acting")
async def end_acting(request: Request, _csrf: CsrfChecked, session: WebSession = PatientSession) -> Response:
    """Back to my own account (the banner's button); see ``session.stop_acting`` for what happens to the token."""
    if session.principal.acting_for is not None and not await stop_acting(request, request.app.state.runtime):
        return redirect(request, "/web/sign-in")
    return redirect(request, "/web/patient/")
