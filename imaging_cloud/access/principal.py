"""The authentication dependency: every non-public route gets a verified ``Principal`` or answers 401.

A token is valid when the verifier accepts it and its ``jti`` is not revoked in the database (sign-out, refresh
token reuse): one primary-key lookup per request, shared by every worker.
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


def current_principal(
    request: Request,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required", code="token-missing")
    try:
        principal = Principal.from_claims(runtime.verifier.verify(credentials.credentials))
    except InvalidToken as exc:
        request.state.token_failure = exc.detail  # which check failed: for the audit trail, never the response
        raise Unauthenticated("the token is not valid", code=exc.code) from None
    with runtime.units.read_only() as session:
        revoked = is_revoked(session, principal.token_id)
    if revoked:
        request.state.token_failure = "revoked"  # noqa: S105 (which check failed, not a secret)
        raise Unauthenticated("the token is not valid", code="token-revoked")
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
