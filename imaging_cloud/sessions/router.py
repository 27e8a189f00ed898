"""Session routes: patient sign-in with an EHC ID token, sign-out, and a patient taking up a proxy role.

``POST /auth/token`` (password and client-credentials grants, and ``grant_type=refresh_token``) stays with the
accounts router; its refresh grant uses ``imaging_cloud.sessions.refresh`` like everything here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from auth.principals import ACTING_FOR_CLAIM, PERSON_REF_CLAIM, Role
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.consent.models import ProxyLink
from imaging_cloud.errors import ERROR_RESPONSES, Forbidden, NotFound
from imaging_cloud.identity.models import Person
from imaging_cloud.runtime import Runtime, get_runtime
from imaging_cloud.sessions.ehc import sign_in_with_id_token
from imaging_cloud.sessions.refresh import SessionGrant, TokenOut, family_of, sign_out, start_session

public_router = APIRouter(tags=["sign-in"])
router = APIRouter(tags=["sign-in"], responses=ERROR_RESPONSES)


class IdTokenIn(BaseModel):
    id_token: str = Field(min_length=1, max_length=8192)
    """An OpenID Connect ID token from the trusted EHC issuer."""


@public_router.post(
    "/auth/ehc", response_model=TokenOut, response_model_exclude_none=True, responses={401: ERROR_RESPONSES[401]}
)
@audited(AuditAction.SIGN_IN, target=no_target)
def sign_in_with_ehc(body: IdTokenIn, runtime: Annotated[Runtime, Depends(get_runtime)], audit: Audit) -> TokenOut:
    """A patient signs in with the electronic health card identity (the EHC platform's ID token)."""
    return sign_in_with_id_token(runtime, audit, body.id_token, channel="ehc-id-token")


@router.post("/auth/sign-out", status_code=204, response_class=Response)
@audited(AuditAction.SIGN_OUT, target=no_target)
def post_sign_out(
    principal: CurrentPrincipal, runtime: Annotated[Runtime, Depends(get_runtime)], audit: Audit
) -> Response:
    """Revoke the caller's access token and, for people and staff, the refresh tokens of the same sign-in."""
    with runtime.units() as uow:  # revoke first: if the event then cannot be written, the caller is still out
        family = sign_out(uow.session, runtime, principal.token_id)
    audit.record(
        status=204,
        reason="the caller ended their own sign-in",
        basis="own-session",
        details={"refresh_family_revoked": family is not None},
    )
    return Response(status_code=204)


class ActForIn(BaseModel):
    person_ref: str = Field(min_length=1, max_length=64)
    """The pseudonym of the person to act for (from the patient's list of people they represent)."""


def _active_proxy_link(session: Session, proxy_ref: str, person_ref: str) -> int | None:
    """The id of an active link letting ``proxy_ref`` act for ``person_ref`` with at least one right."""
    represented, proxy = aliased(Person), aliased(Person)
    return session.scalar(
        select(ProxyLink.id)
        .join(represented, ProxyLink.person_id == represented.id)
        .join(proxy, ProxyLink.proxy_person_id == proxy.id)
        .where(
            represented.pseudonym == person_ref,
            proxy.pseudonym == proxy_ref,
            ProxyLink.removed_at.is_(None),
            or_(ProxyLink.can_view, ProxyLink.can_grant, ProxyLink.can_issue_codes),
        )
        .order_by(ProxyLink.id)
        .limit(1)
    )


@router.post("/auth/act-for", response_model=TokenOut, response_model_exclude_none=True)
@audited(AuditAction.ACT_FOR, target=no_target)
def act_for(
    body: ActForIn, principal: CurrentPrincipal, runtime: Annotated[Runtime, Depends(get_runtime)], audit: Audit
) -> TokenOut:
    """A signed-in patient gets a proxy token for a family member they hold an active proxy link for.

    The proxy session joins the patient's sign-in (same refresh family): signing out ends both. What the proxy
    may do is decided per request from the link's rights, so removing the link takes effect at once.
    """
    if principal.role is not Role.PATIENT or principal.person_ref is None:
        raise Forbidden("only a signed-in patient can act for a family member", code="patient-only")
    now = dt.datetime.now(dt.UTC)
    with runtime.units.read_only() as session:
        link_id = None
        if body.person_ref != principal.person_ref:
            link_id = _active_proxy_link(session, principal.person_ref, body.person_ref)
    if link_id is None:
        raise NotFound("no active proxy link to that person", code="proxy-link-not-found")
    grant = SessionGrant(
        subject=principal.subject,
        role=Role.PROXY.value,
        claims={PERSON_REF_CLAIM: principal.person_ref, ACTING_FOR_CLAIM: body.person_ref},
    )
    with runtime.units() as uow:  # the tokens are returned only once their event is recorded
        family = family_of(uow.session, principal.token_id)
        issued = start_session(uow.session, runtime, grant, family_id=family, now=now)
    audit.about(Target(TargetKind.PERSON, body.person_ref), patient=body.person_ref)
    audit.record(
        reason="an active proxy link lets the patient act for this person",
        basis="proxy",
        details={"proxy_link": link_id, "proxy_token_id": issued.access.jti},
    )
    return issued.response(now)
