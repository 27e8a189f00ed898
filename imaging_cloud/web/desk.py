"""The service-desk page: serving a person in person after checking their identity document.

The clerk attests the ID check and opens a desk session (``POST /desk/sessions``); while it lasts (30 minutes)
the clerk's own token may list the person's studies, print a one-time code for them and set up family links,
through the person's own consent routes. The session is a fact the API finds by itself: there is no session
token to carry, so these pages call the API with the clerk's token and only name the session (by its number)
where the API asks for it. Identifiers and names the clerk types go in POST bodies only and are never shown
again; pages name the person by pseudonym.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from auth.principals import Role
from imaging_cloud.web.api import ApiCallFailed
from imaging_cloud.web.csrf import CsrfChecked
from imaging_cloud.web.local_time import local_time
from imaging_cloud.web.session import WebSession, require_roles
from imaging_cloud.web.templating import redirect, render

router = APIRouter(prefix="/web/desk", include_in_schema=False)
DeskSession = require_roles(Role.SERVICE_DESK)

PersonRef = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

DOCUMENT_TYPES = ("resident-id-card", "household-register", "passport", "other")
CODE_VALIDITY_SECONDS = (600, 1800, 3600)
"""How long a printed code can be used, offered to the clerk (the API allows up to an hour)."""
CODE_SESSION_MINUTES = (60, 240, 1440)
"""How long the doctor's session lasts once the code is used."""
PROXY_RELATIONSHIPS = ("spouse", "parent", "child", "sibling", "guardian", "other-family")
CHILD_RELATIONSHIPS = ("parent", "guardian")
IDENTIFIER_KINDS = ("national_id", "health_card")
TIMELINE_WINDOW_DAYS = 3650
DONE_MESSAGES = frozenset({"ended", "proxy-added", "child-registered"})


@router.get("/")
async def start_page(request: Request, done: str | None = None, session: WebSession = DeskSession) -> Response:
    """The ID check and the form that opens a desk session."""
    return _start_page(request, session, done=done if done in DONE_MESSAGES else None)


def _start_page(
    request: Request,
    session: WebSession,
    *,
    error: str | None = None,
    status_code: int = 200,
    form: Mapping[str, str] | None = None,
    done: str | None = None,
) -> Response:
    return render(
        request,
        "desk/start.html",
        session,
        status_code=status_code,
        error=error,
        done=done,
        form=form or {},
        document_types=DOCUMENT_TYPES,
    )


@router.post("/sessions")
async def start_session(
    request: Request,
    _csrf: CsrfChecked,
    national_id: Annotated[str, Form(max_length=32)] = "",
    document_type: Annotated[str, Form(max_length=32)] = "",
    attested: Annotated[str, Form(max_length=8)] = "",
    note: Annotated[str, Form(max_length=120)] = "",
    session: WebSession = DeskSession,
) -> Response:
    """Open the session for the person whose document the clerk checked; then serve them on the session page."""
    kept = {"document_type": document_type, "note": note}
    if not national_id.strip():
        return _start_page(request, session, error="national-id-required", status_code=422, form=kept)
    if document_type not in DOCUMENT_TYPES:
        return _start_page(request, session, error="document-type-required", status_code=422, form=kept)
    body = {
        "national_id": national_id.strip(),
        "document_type": document_type,
        "attested": attested == "yes",
        "note": note.strip() or None,
    }
    try:
        opened = await session.api.post("/desk/sessions", body)
    except ApiCallFailed as failure:
        if failure.status == 401:
            raise
        return _start_page(request, session, error=failure.code, status_code=failure.status, form=kept)
    return redirect(request, f"/web/desk/sessions/{opened['session_id']}/{opened['person_ref']}")


async def _session_page(
    request: Request,
    session: WebSession,
    session_id: int,
    person_ref: str,
    *,
    error: str | None = None,
    error_form: str | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> Response:
    # Fetched first on every render: a session that ended meanwhile turns the page into the API's refusal, so an
    # error shown in a form below is always about that form's input.
    studies = await session.api.get(f"/persons/{person_ref}/studies", window_days=TIMELINE_WINDOW_DAYS)
    codes = await session.api.get(f"/persons/{person_ref}/codes")
    proxies = await session.api.get(f"/persons/{person_ref}/proxies")
    return render(
        request,
        "desk/session.html",
        session,
        status_code=status_code,
        session_id=session_id,
        person_ref=person_ref,
        studies=studies["studies"],
        codes=codes,
        proxies=proxies,
        error=error,
        error_form=error_form,
        done=done,
        validities=CODE_VALIDITY_SECONDS,
        session_lengths=CODE_SESSION_MINUTES,
        relationships=PROXY_RELATIONSHIPS,
        child_relationships=CHILD_RELATIONSHIPS,
        local_time=local_time,
    )


@router.get("/sessions/{session_id}/{person_ref}")
async def session_page(
    request: Request,
    session_id: int,
    person_ref: PersonRef,
    done: Annotated[str | None, Query(max_length=32)] = None,
    session: WebSession = DeskSession,
) -> Response:
    """Serving one person: their studies (a list, never images), codes and family links, and what to do next."""
    return await _session_page(request, session, session_id, person_ref, done=done if done in DONE_MESSAGES else None)


def _qr_data_url(svg: str) -> str:
    """The API's QR SVG as an image URL (the page's policy allows ``data:`` images, not inline markup from data)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@router.post("/sessions/{session_id}/{person_ref}/codes")
async def print_code(
    request: Request,
    _csrf: CsrfChecked,
    session_id: int,
    person_ref: PersonRef,
    ttl_seconds: Annotated[int, Form(ge=30, le=3600)] = CODE_VALIDITY_SECONDS[0],
    session_minutes: Annotated[int, Form(ge=5, le=1440)] = CODE_SESSION_MINUTES[1],
    session: WebSession = DeskSession,
) -> Response:
    """Issue a one-time code for the person and show it once, ready to print.

    The secret is on this page only: it cannot go into a redirect's URL, and the page is never cached.
    """
    issued: dict[str, Any] = await session.api.post(
        f"/persons/{person_ref}/codes", {"ttl_seconds": ttl_seconds, "session_minutes": session_minutes}
    )
    return render(
        request,
        "desk/code_print.html",
        session,
        status_code=201,
        session_id=session_id,
        person_ref=person_ref,
        issued=issued,
        qr_image=_qr_data_url(issued["qr_svg"]),
        local_time=local_time,
    )


@router.post("/sessions/{session_id}/{person_ref}/proxies")
async def add_proxy(
    request: Request,
    _csrf: CsrfChecked,
    session_id: int,
    person_ref: PersonRef,
    id_kind: Annotated[str, Form(max_length=16)] = "",
    identifier: Annotated[str, Form(max_length=64)] = "",
    relationship: Annotated[str, Form(max_length=16)] = "",
    view: Annotated[str, Form(max_length=8)] = "",
    grant: Annotated[str, Form(max_length=8)] = "",
    issue_codes: Annotated[str, Form(max_length=8)] = "",
    session: WebSession = DeskSession,
) -> Response:
    """Let a family member (already known here by their identifier) act for the person with the chosen rights."""
    if id_kind not in IDENTIFIER_KINDS or not identifier.strip() or relationship not in PROXY_RELATIONSHIPS:
        return await _session_page(
            request, session, session_id, person_ref, error="proxy-form-incomplete", error_form="proxy", status_code=422
        )
    body = {
        "proxy": {id_kind: identifier.strip()},
        "relationship": relationship,
        "rights": {"view": view == "yes", "grant": grant == "yes", "issue_codes": issue_codes == "yes"},
    }
    try:
        await session.api.post(f"/persons/{person_ref}/proxies", body)
    except ApiCallFailed as failure:
        if failure.status == 401:
            raise
        return await _session_page(
            request,
            session,
            session_id,
            person_ref,
            error=failure.code,
            error_form="proxy",
            status_code=failure.status,
        )
    return redirect(request, f"/web/desk/sessions/{session_id}/{person_ref}?done=proxy-added")


@router.post("/sessions/{session_id}/{person_ref}/children")
async def register_child(
    request: Request,
    _csrf: CsrfChecked,
    session_id: int,
    person_ref: PersonRef,
    national_id: Annotated[str, Form(max_length=32)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    relationship: Annotated[str, Form(max_length=16)] = "",
    session: WebSession = DeskSession,
) -> Response:
    """Register the person as guardian of a minor (found, or created from the national ID and name)."""
    if not national_id.strip() or not name.strip() or relationship not in CHILD_RELATIONSHIPS:
        return await _session_page(
            request, session, session_id, person_ref, error="child-form-incomplete", error_form="child", status_code=422
        )
    body = {"national_id": national_id.strip(), "name": name.strip(), "relationship": relationship}
    try:
        await session.api.post(f"/desk/sessions/{session_id}/children", body)
    except ApiCallFailed as failure:
        if failure.status == 401:
            raise
        return await _session_page(
            request,
            session,
            session_id,
            person_ref,
            error=failure.code,
            error_form="child",
            status_code=failure.status,
        )
    return redirect(request, f"/web/desk/sessions/{session_id}/{person_ref}?done=child-registered")


@router.post("/sessions/{session_id}/end")
async def end_session(
    request: Request, _csrf: CsrfChecked, session_id: int, session: WebSession = DeskSession
) -> Response:
    """End the session when the person leaves the desk."""
    await session.api.post(f"/desk/sessions/{session_id}/end")
    return redirect(request, "/web/desk/?done=ended")
