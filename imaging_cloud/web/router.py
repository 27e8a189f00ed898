"""Mount the portals on the app: pages under ``/web``, their assets under ``/static``, headers on everything."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from imaging_cloud.web import account, auditor, desk, doctor, patient, sign_in, study
from imaging_cloud.web.pages import install_page_errors
from imaging_cloud.web.security_headers import SecurityHeaders
from imaging_cloud.web.templating import STATIC_DIR

#: Every portal page module; each has a ``router`` (the route inventory test walks them all).
PAGE_MODULES = (sign_in, account, patient, auditor, doctor, desk, study)

#: Portal pages a browser may GET before signing in (every other page sends it to sign in first).
PUBLIC_WEB_PAGES = frozenset({"/web/", "/web/sign-in", "/web/sign-in/ehc-demo"})


def install_web(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)
    install_page_errors(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def root(_request: Request) -> Response:
        return RedirectResponse("/web/", status_code=303)

    for module in PAGE_MODULES:
        app.include_router(module.router)
