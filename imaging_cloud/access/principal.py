"""The authentication dependency: every non-public route gets a verified ``Principal`` or answers 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from auth.principals import Principal
from auth.tokens import InvalidToken
from imaging_cloud.errors import Unauthenticated
from imaging_cloud.runtime import Runtime, get_runtime

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
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
