"""Sign-in (OAuth 2.0 client credentials / password / refresh token), the JWKS, and the administrator's account
routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from pydantic import BaseModel, Field
from sqlalchemy import select

from auth.policy import Action
from auth.principals import ACTING_FOR_CLAIM, PERSON_REF_CLAIM, Role
from imaging_cloud.access.guards import require_action
from imaging_cloud.accounts.models import Account
from imaging_cloud.accounts.service import authenticate, create_account, create_institution
from imaging_cloud.audit.entry import ANONYMOUS, Actor, Target
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.errors import ERROR_RESPONSES, BadRequest, Unauthenticated
from imaging_cloud.runtime import Runtime, get_runtime
from imaging_cloud.sessions.refresh import (
    IssuedSession,
    RefreshRefused,
    SessionGrant,
    TokenOut,
    access_only,
    revoke_family,
    rotate,
    start_session,
)

public_router = APIRouter(tags=["sign-in"])
admin_router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_action(Action.ADMINISTER))],
)

#: Roles that sign in with a username and secret here (patients and doctors get their own flows).
_CREDENTIAL_ROLES = frozenset({Role.HOSPITAL, Role.ADMIN, Role.AUDITOR, Role.DOCTOR, Role.SERVICE_DESK})


def _refresh(runtime: Runtime, audit: Audit, presented: str, now: dt.datetime) -> TokenOut:
    """Rotate a refresh token; a reused one revokes its whole sign-in before the 401 (recorded as ``refresh``)."""
    audit.action = AuditAction.REFRESH
    try:
        with runtime.units() as uow:
            issued = rotate(uow.session, runtime, presented, now=now)
    except RefreshRefused as refused:
        if refused.family_id is not None:
            with runtime.units() as uow:
                revoke_family(uow.session, runtime, refused.family_id, now=now)
        audit.record(
            decision=AuditDecision.DENY,
            status=401,
            outcome="invalid-refresh-token",
            reason="the refresh token was not accepted",
            details={"token_failure": refused.detail, "family_revoked": refused.family_id is not None},
        )
        raise Unauthenticated("the token is not valid", code="invalid-refresh-token") from None
    _record_issued(audit, issued, reason="a valid refresh token was rotated", basis="refresh-token")
    return issued.response(now)


def _record_issued(audit: Audit, issued: IssuedSession, *, reason: str, basis: str, grant_type: str = "") -> None:
    """Record a sign-in or refresh as done by the principal it created (a person by pseudonym, never more)."""
    grant = issued.grant
    person = grant.claims.get(PERSON_REF_CLAIM)
    if person is None:
        audit.about(Target(TargetKind.ACCOUNT, grant.subject))
    else:
        audit.about(Target(TargetKind.PERSON, person), patient=grant.claims.get(ACTING_FOR_CLAIM, person))
    audit.record(
        reason=reason,
        basis=basis,
        details={"grant_type": grant_type} if grant_type else None,
        actor=Actor(
            grant.subject,
            role=grant.role,
            institution=grant.institution,
            token_id=issued.access.jti,
            acting_for=grant.claims.get(ACTING_FOR_CLAIM),
        ),
    )


@public_router.post(
    "/auth/token", response_model=TokenOut, response_model_exclude_none=True, responses={401: ERROR_RESPONSES[401]}
)
@audited(AuditAction.SIGN_IN, target=no_target)
def issue_token(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    audit: Audit,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str, Form(max_length=128)] = "",
    client_secret: Annotated[str, Form(max_length=256)] = "",
    username: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    refresh_token: Annotated[str, Form(max_length=256)] = "",
) -> TokenOut:
    """``client_credentials`` for systems (hospital uploaders; no refresh token), ``password`` for staff and
    doctors (with a refresh token), ``refresh_token`` to rotate one (the used one is spent; reuse ends the
    sign-in)."""
    now = dt.datetime.now(dt.UTC)
    if grant_type == "refresh_token":
        return _refresh(runtime, audit, refresh_token, now)
    if grant_type == "client_credentials":
        name, secret = client_id, client_secret
    elif grant_type == "password":
        name, secret = username, password
    else:
        raise BadRequest("unsupported grant_type", code="unsupported-grant-type")
    with runtime.units.read_only() as session:
        found = authenticate(session, name, secret)
        attempted = None if found is not None else session.scalar(select(Account.id).where(Account.username == name))
    if found is None or found.role not in _CREDENTIAL_ROLES:
        # The account tried, if it exists; an unknown name is not recorded (it may be anything a person typed).
        actor = Actor(f"account:{found.account_id if found else attempted}") if found or attempted else ANONYMOUS
        audit.record(
            decision=AuditDecision.DENY,
            status=401,
            outcome="invalid-credentials",
            reason="credentials did not match an active account allowed to sign in here",
            details={"grant_type": grant_type},
            actor=actor,
        )
        raise Unauthenticated("invalid credentials", code="invalid-credentials")
    grant = SessionGrant(f"account:{found.account_id}", found.role.value, found.institution)
    if grant_type == "client_credentials":
        issued = access_only(runtime, grant, now=now)
    else:
        with runtime.units() as uow:
            issued = start_session(uow.session, runtime, grant, now=now)
    _record_issued(
        audit, issued, reason="credentials matched an active account", basis="credentials", grant_type=grant_type
    )
    return issued.response(now)


@public_router.get("/.well-known/jwks.json")
def get_jwks(runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """Public keys that verify this service's tokens (current and, during rotation, previous)."""
    return runtime.public_jwks()


class InstitutionIn(BaseModel):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{2,64}$")
    name: str = Field(min_length=1, max_length=256)


class AccountIn(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{3,128}$")
    secret: str = Field(min_length=12, max_length=256)
    role: Role
    institution: str | None = None
    display_name: str = Field(default="", max_length=256)
    practitioner_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    """A doctor's practitioner number at their institution (doctors only)."""


class Created(BaseModel):
    id: int


@admin_router.post("/institutions", response_model=Created, status_code=201)
@audited(AuditAction.CREATE_INSTITUTION)
def post_institution(body: InstitutionIn, audit: Audit) -> Created:
    with audit.transaction() as uow:
        institution = create_institution(uow.session, body.code, body.name)
        audit.about(Target(TargetKind.INSTITUTION, institution.code))
        audit.allow(uow.session, status=201)
        created = Created(id=institution.id)
    return created


@admin_router.post("/accounts", response_model=Created, status_code=201)
@audited(AuditAction.CREATE_ACCOUNT)
def post_account(body: AccountIn, audit: Audit) -> Created:
    with audit.transaction() as uow:
        account = create_account(
            uow.session,
            body.username,
            body.secret,
            body.role,
            body.institution,
            body.display_name,
            practitioner_id=body.practitioner_id,
        )
        audit.about(Target(TargetKind.ACCOUNT, f"account:{account.id}"))
        audit.allow(uow.session, status=201, details={"role": body.role.value, "institution": body.institution})
        created = Created(id=account.id)
    return created
