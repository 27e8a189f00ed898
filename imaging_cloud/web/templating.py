"""Rendering pages: one Jinja2 environment per language (gettext installed once, thread-safe), autoescaped.

Every page goes out through ``render`` or ``redirect`` so the cookies collected while handling the request
(refreshed tokens, the CSRF secret) are set, and no page is cached: they carry personal data.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from imaging_cloud.web.csrf import csrf_token
from imaging_cloud.web.i18n import LANGUAGE_COOKIE, LANGUAGES, language_of, translations
from imaging_cloud.web.session import WebSession, cookie_jar

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
ELDER_COOKIE = "ic_elder"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@cache
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.globals["static"] = static_url
    env.filters["dicom_date"] = dicom_date
    return env


def dicom_date(value: str | None) -> str:
    """``20251229`` → ``2025-12-29`` (ISO 8601, read the same way in Chinese and English); anything else as is."""
    if value and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or ""


@cache
def _static_version(path: str) -> str:
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]


def static_url(path: str) -> str:
    """``/static/<path>?v=<content hash>``: cached forever by browsers, replaced when the file changes."""
    return f"/static/{path}?v={_static_version(path)}"


def page_language(request: Request) -> str:
    return language_of(request.cookies.get(LANGUAGE_COOKIE))


def gettext_for(request: Request) -> Any:
    """The ``gettext`` of the request's language, for messages composed in Python."""
    return translations(page_language(request)).gettext


def _finish(request: Request, response: Response) -> Response:
    secure = request.app.state.runtime.settings.web_cookie_secure
    cookie_jar(request).apply(response, secure=secure)
    for name, value in _NO_STORE.items():
        response.headers.setdefault(name, value)
    return response


def render(
    request: Request, template: str, session: WebSession | None = None, *, status_code: int = 200, **context: Any
) -> Response:
    language = page_language(request)
    page = environment(language).get_template(template)
    html = page.render(
        request=request,
        session=session,
        language=language,
        html_lang=LANGUAGES[language],
        languages=LANGUAGES,
        elder=request.cookies.get(ELDER_COOKIE) == "1",
        csrf_token=csrf_token(request),
        current_path=request.url.path,
        **context,
    )
    return _finish(request, HTMLResponse(html, status_code=status_code))


def redirect(request: Request, location: str) -> Response:
    """303 See Other (after a form post, the browser GETs the result: no resubmission on reload)."""
    return _finish(request, RedirectResponse(location, status_code=303))
