"""Route guards for actions that are not about one study (upload, register, administer)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select

from auth.policy import NO_FACTS, Action, decide
from auth.principals import Principal
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.errors import Forbidden, Unauthenticated
from imaging_cloud.identity.models import Institution
from imaging_cloud.runtime import Runtime, get_runtime


def require_action(action: Action) -> Callable[[Request, Principal], Principal]:
    """A dependency that lets the request through only if policy allows ``action`` for the caller."""

    def guard(request: Request, principal: CurrentPrincipal) -> Principal:
        decision = decide(principal, action, None, NO_FACTS, dt.datetime.now(dt.UTC))
        request.state.access_decision = decision  # the basis the request's audit event records
        if not decision.allowed:
            raise Forbidden(decision.reason, code="action-not-allowed")
        return principal

    guard.__name__ = f"require_{action.value.replace('-', '_')}"
    return guard


def institution_of_principal(
    principal: CurrentPrincipal, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Institution:
    """The institution the token is bound to; a token naming an unknown institution is not valid."""
    if principal.institution is None:
        raise Forbidden("this action needs an institution-bound account", code="institution-required")
    with runtime.units.read_only() as session:
        institution = session.scalar(select(Institution).where(Institution.code == principal.institution))
        if institution is not None:
            session.expunge(institution)  # a detached, loaded copy outlives the read-only session
    if institution is None:
        raise Unauthenticated("the token is not valid", code="token-invalid")
    return institution


InstitutionOfPrincipal = Annotated[Institution, Depends(institution_of_principal)]
