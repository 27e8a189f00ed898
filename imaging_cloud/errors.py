"""One error base that knows its HTTP status and a stable machine-readable code; one handler maps them all.

Hierarchy::

    ApiError (500 internal-error)
    ├── BadRequest (400)            malformed body, boundary, parameters
    ├── Unauthenticated (401)       missing, bad, expired or revoked token
    ├── Forbidden (403)             visible but the action is not allowed
    ├── NotFound (404)              absent, or not visible to this principal (no existence leak)
    ├── NotAcceptable (406)         no representation matches Accept
    ├── Conflict (409)              contradicts what is already stored
    ├── Gone (410)                  existed, but is used up, expired or revoked
    ├── PayloadTooLarge (413)       part or request over the configured limit
    ├── UnsupportedMediaType (415)  wrong Content-Type
    ├── Unprocessable (422)         well-formed but refused (e.g. de-identification refused)
    ├── TooManyRequests (429)       a rate limit stopped the attempt
    └── ServiceUnavailable (503)    a backend (store, database) failed; nothing was served

Messages never contain PHI: they name the rule that failed, not the value that failed it. ``audit_reason``
says why for the audit trail only (say the policy's reason behind a 404) and is never sent.

``install_error_handlers(app, record_failure=…)`` gives every error answer to the audit trail first; if that
raises an ``ApiError`` (the trail cannot be written), that error is answered instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The body of every error response."""

    code: str
    message: str
    detail: Any | None = None


class ApiError(Exception):
    status_code = 500
    code = "internal-error"

    def __init__(
        self, message: str, *, code: str | None = None, detail: Any | None = None, audit_reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail
        self.audit_reason = audit_reason

    def body(self) -> dict[str, Any]:
        return ErrorBody(code=self.code, message=self.message, detail=self.detail).model_dump(exclude_none=True)


class BadRequest(ApiError):
    status_code = 400
    code = "bad-request"


class Unauthenticated(ApiError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    status_code = 404
    code = "not-found"


class NotAcceptable(ApiError):
    status_code = 406
    code = "not-acceptable"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class Gone(ApiError):
    status_code = 410
    code = "gone"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload-too-large"


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "unsupported-media-type"


class Unprocessable(ApiError):
    status_code = 422
    code = "unprocessable"


class TooManyRequests(ApiError):
    status_code = 429
    code = "too-many-requests"


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "service-unavailable"


#: Documented on every route in the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in [
        (400, "Malformed request"),
        (401, "Missing or invalid token"),
        (403, "Not allowed"),
        (404, "Not found or not visible"),
        (413, "Too large"),
        (415, "Unsupported media type"),
        (503, "A backend is unavailable"),
    ]
}

_STATUS_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    410: "gone",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "too-many-requests",
}


#: Called with (request, status, code, reason) before an error is answered; see ``install_error_handlers``.
FailureRecorder = Callable[[Request, int, str, str], Awaitable[None]]


def install_error_handlers(app: FastAPI, *, record_failure: FailureRecorder | None = None) -> None:
    """Every error leaves as ``{"code", "message", "detail"?}`` with no stack trace and no PHI."""

    async def answer(
        request: Request,
        status: int,
        body: dict[str, Any],
        reason: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        if record_failure is not None:
            try:
                await record_failure(request, status, str(body["code"]), reason)
            except ApiError as failure:
                return JSONResponse(failure.body(), status_code=failure.status_code)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return await answer(request, exc.status_code, exc.body(), exc.audit_reason or exc.message, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        headers = getattr(exc, "headers", None)
        return await answer(request, exc.status_code, {"code": code, "message": message}, message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Field locations and messages only: never echo the submitted values back (they may be PHI).
        detail = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", "")} for err in exc.errors()]
        body = {"code": "invalid-request", "message": "request validation failed", "detail": detail}
        return await answer(request, 422, body, "request validation failed")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        body = {"code": "internal-error", "message": "internal error"}
        return await answer(request, 500, body, f"unhandled {type(exc).__name__}")
