"""The authentication dependency: every non-public route gets a verified ``Principal`` or answers 401.

A token is valid when the verifier accepts it and its ``jti`` is not revoked in the database (sign-out, refresh
token reuse): one primary-key lookup per request, shared by every worker.

Browsers hold the same token in an HttpOnly, SameSite=Strict cookie set by the web portal; the API accepts it on
safe methods only (GET/HEAD: the viewer's image requests), so a cookie can never change anything through the
API. Every change a page makes goes through a CSRF-checked portal form that calls the API with the bearer token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from auth.principals import Principal
from auth.tokens import InvalidToken
from imaging_cloud.errors import Unauthenticated
from imaging_cloud.runtime import Runtime, get_runtime
from imaging_cloud.sessions.revocation import is_revoked

_bearer = HTTPBearer(auto_error=False, description="JWT from POST /auth/token")

#: The web portal's access-token cookie (HttpOnly, Secure, SameSite=Strict); read here for safe methods only.
ACCESS_COOKIE = "ic_access"
_SAFE_METHODS = frozenset({"GET", "HEAD"})


def principal_from_token(request: Request, runtime: Runtime, token: str) -> Principal:
    """The verified, unrevoked principal of ``token``, or 401 (the reason kept for the audit trail only)."""
    try:
        principal = Principal.from_claims(runtime.verifier.verify(token))
    except InvalidToken as exc:
        request.state.token_failure = exc.detail  # which check failed: for the audit trail, never the response
        raise Unauthenticated("the token is not valid", code=exc.code) from None
    with runtime.units.read_only() as session:
        revoked = is_revoked(session, principal.token_id)
    if revoked:
        request.state.token_failure = "revoked"  # noqa: S105 (which check failed, not a secret)
        raise Unauthenticated("the token is not valid", code="token-revoked")
    return principal


def current_principal(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is not None and credentials.scheme.lower() == "bearer":
        token = credentials.credentials
    elif request.method in _SAFE_METHODS and request.cookies.get(ACCESS_COOKIE):
        token = request.cookies[ACCESS_COOKIE]
    else:
        raise Unauthenticated("a bearer token is required", code="token-missing")
    principal = principal_from_token(request, runtime, token)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
