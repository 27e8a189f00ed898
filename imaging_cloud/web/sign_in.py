"""Signing in and out of the portals, and the two preferences every page offers (language, elder-friendly mode).

Patients sign in with their electronic health card identity: in development through the development EHC issuer's
demo list (the same ``/dev-ehc`` exchange the API offers, absent in production); staff with their account and
password. Either way the browser ends up holding the API's own tokens in HttpOnly cookies.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from auth.principals import Role
from imaging_cloud.access.principal import principal_from_token
from imaging_cloud.web.api import ApiCallFailed, ApiClient
from imaging_cloud.web.csrf import CsrfChecked
from imaging_cloud.web.i18n import LANGUAGE_COOKIE, LANGUAGES
from imaging_cloud.web.session import (
    SELF_COOKIE,
    OptionalWebSession,
    cookie_jar,
    forget_session,
    safe_next,
    store_tokens,
)
from imaging_cloud.web.templating import ELDER_COOKIE, redirect, render

router = APIRouter(prefix="/web", include_in_schema=False)

HOME_OF_ROLE: dict[Role, str] = {
    Role.PATIENT: "/web/patient/",
    Role.PROXY: "/web/patient/",
    Role.DOCTOR: "/web/doctor/",
    Role.SERVICE_DESK: "/web/desk/",
    Role.AUDITOR: "/web/audit/",
    Role.ADMIN: "/web/account",
    Role.HOSPITAL: "/web/account",
}
_PREFERENCE_MAX_AGE = 365 * 24 * 3600


def _dev_issuer_available(request: Request) -> bool:
    """Whether ``create_app`` mounted the development EHC issuer (development mode only)."""
    runtime = request.app.state.runtime
    return bool(runtime.settings.environment == "development" and runtime.dev_ehc_key is not None)


@router.get("/")
async def home(request: Request, session: OptionalWebSession) -> Response:
    if session is None:
        return redirect(request, "/web/sign-in")
    return redirect(request, HOME_OF_ROLE[session.role])


@router.get("/sign-in")
async def sign_in_page(request: Request, session: OptionalWebSession, next: str | None = None) -> Response:
    """Choose how to sign in; an already signed-in browser goes straight on."""
    if session is not None:
        return redirect(request, safe_next(next) or HOME_OF_ROLE[session.role])
    return render(request, "sign_in.html", next=safe_next(next) or "", dev_issuer=_dev_issuer_available(request))


@router.get("/sign-in/ehc-demo")
async def demo_patients_page(request: Request, next: str | None = None) -> Response:
    """The development EHC issuer's demo patients (masked), each with a sign-in button."""
    if not _dev_issuer_available(request):
        return render(request, "error.html", status_code=404, code="not-found")
    listed = await ApiClient(request, None).get("/dev-ehc/")
    return render(request, "sign_in_demo.html", patients=listed["patients"], next=safe_next(next) or "")


def _after_sign_in(request: Request, tokens: dict[str, str], next_path: str | None, role: Role) -> Response:
    store_tokens(request, tokens)
    return redirect(request, safe_next(next_path) or HOME_OF_ROLE[role])


@router.post("/sign-in/ehc-demo")
async def demo_sign_in(
    request: Request,
    _csrf: CsrfChecked,
    health_card: Annotated[str, Form(max_length=64)],
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    if not _dev_issuer_available(request):
        return render(request, "error.html", status_code=404, code="not-found")
    try:
        tokens = await ApiClient(request, None).post("/dev-ehc/sign-in", {"health_card": health_card})
    except ApiCallFailed as failure:
        return render(
            request, "sign_in.html", status_code=failure.status, error=failure.code, next=next, dev_issuer=True
        )
    return _after_sign_in(request, tokens, next, Role.PATIENT)


@router.post("/sign-in/password")
async def password_sign_in(
    request: Request,
    _csrf: CsrfChecked,
    username: Annotated[str, Form(min_length=1, max_length=128)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    form = {"grant_type": "password", "username": username, "password": password}
    try:
        tokens = await ApiClient(request, None).post("/auth/token", form=form)
    except ApiCallFailed as failure:
        return render(
            request,
            "sign_in.html",
            status_code=401 if failure.status in {400, 401} else failure.status,
            error="sign-in-failed",
            next=safe_next(next) or "",
            dev_issuer=_dev_issuer_available(request),
        )
    principal = principal_from_token(request, request.app.state.runtime, tokens["access_token"])
    return _after_sign_in(request, tokens, next, principal.role)


@router.post("/sign-out")
async def sign_out(request: Request, _csrf: CsrfChecked, session: OptionalWebSession) -> Response:
    """Revoke the sign-in at the API (the access token and the whole refresh family), then forget the cookies."""
    if session is not None:
        for token in {session.token, request.cookies.get(SELF_COOKIE)} - {None}:
            with contextlib.suppress(ApiCallFailed):  # already revoked or expired: nothing left to end
                await ApiClient(request, token).request("POST", "/auth/sign-out")
    forget_session(request)
    return redirect(request, "/web/sign-in")


@router.post("/preferences")
async def preferences(
    request: Request,
    _csrf: CsrfChecked,
    language: Annotated[str | None, Form(max_length=8)] = None,
    elder: Annotated[str | None, Form(max_length=3)] = None,
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Switch the language or the elder-friendly mode (large type, high contrast); back to the same page."""
    jar = cookie_jar(request)
    if language in LANGUAGES:
        jar.to_set[LANGUAGE_COOKIE] = (language, _PREFERENCE_MAX_AGE)
    if elder in {"on", "off"}:
        jar.to_set[ELDER_COOKIE] = ("1" if elder == "on" else "0", _PREFERENCE_MAX_AGE)
    return redirect(request, safe_next(next) or "/web/")
