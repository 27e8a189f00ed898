"""CSRF protection for every portal form: a per-browser secret in a cookie, repeated in the form (double submit).

The cookie is HttpOnly and SameSite=Strict; a form posts the same value in ``csrf_token`` (scripts send it in
``X-CSRF-Token``, read from the page's ``<meta name="csrf-token">``). A browser's ``Sec-Fetch-Site`` and
``Origin``, when sent, must say the request came from this site too. Sign-in forms are protected the same way
(login CSRF), so the cookie is set on the first page a browser sees.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request

from imaging_cloud.web.session import cookie_jar

CSRF_COOKIE = "ic_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_MAX_AGE = 7 * 24 * 3600


class CsrfRejected(Exception):
    """The request is not proven to come from one of our own pages."""


def csrf_token(request: Request) -> str:
    """This browser's CSRF secret, issued (and set as a cookie on the response) if it has none yet."""
    existing = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if existing and len(existing) >= 32:
        request.state.csrf_token = existing
        return existing
    token = secrets.token_urlsafe(32)
    request.state.csrf_token = token
    cookie_jar(request).to_set[CSRF_COOKIE] = (token, _MAX_AGE)
    return token


def _same_site(request: Request) -> bool:
    """What the browser says of the request's origin agrees (a browser that says nothing is judged by the token)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in {"same-origin", "none"}
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.split("://", 1)[-1] == request.headers.get("host", "")
    return True


async def verify_csrf(request: Request) -> None:
    """A dependency for every state-changing portal route."""
    expected = request.cookies.get(CSRF_COOKIE)
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        supplied = value if isinstance(value, str) else None
    if not expected or not supplied or not hmac.compare_digest(expected, supplied) or not _same_site(request):
        raise CsrfRejected()


CsrfChecked = Annotated[None, Depends(verify_csrf)]
