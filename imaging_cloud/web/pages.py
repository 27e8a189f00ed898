"""How the portal answers what went wrong: a page (not JSON) in the reader's language, with the code in it.

The API's refusal of a page's call keeps its status and code (a patient who revoked a grant sends the doctor's
next page to 403 or 404, exactly as the API said); a lapsed sign-in goes back to the sign-in page.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from imaging_cloud.web.api import ApiCallFailed
from imaging_cloud.web.csrf import CsrfRejected
from imaging_cloud.web.session import PageForbidden, SignInRequired, forget_session, sign_in_url
from imaging_cloud.web.templating import redirect, render


def install_page_errors(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return redirect(request, sign_in_url(exc.next_path))

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, _exc: PageForbidden) -> Response:
        return render(request, "error.html", status_code=403, code="page-not-for-role")

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, _exc: CsrfRejected) -> Response:
        return render(request, "error.html", status_code=403, code="csrf-failed")

    @app.exception_handler(ApiCallFailed)
    async def _api(request: Request, exc: ApiCallFailed) -> Response:
        if exc.status == 401:
            forget_session(request)
            return redirect(request, sign_in_url(request.url.path if request.method == "GET" else None))
        return render(request, "error.html", status_code=exc.status, code=exc.code)
