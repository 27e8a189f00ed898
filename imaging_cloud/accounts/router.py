"""Sign-in (OAuth 2.0 client credentials / password), the JWKS, and the administrator's account routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from pydantic import BaseModel, Field
from sqlalchemy import select

from auth.policy import Action
from auth.principals import Role
from auth.tokens import jwks
from imaging_cloud.access.guards import require_action
from imaging_cloud.accounts.models import Account
from imaging_cloud.accounts.service import authenticate, create_account, create_institution
from imaging_cloud.audit.entry import ANONYMOUS, Actor, Target
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.errors import ERROR_RESPONSES, BadRequest, Unauthenticated
from imaging_cloud.runtime import Runtime, get_runtime

public_router = APIRouter(tags=["sign-in"])
admin_router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses=ERROR_RESPONSES,
    dependencies=[Depends(require_action(Action.ADMINISTER))],
)

#: Roles that sign in with a username and secret here (patients and doctors get their own flows).
_CREDENTIAL_ROLES = frozenset({Role.HOSPITAL, Role.ADMIN, Role.AUDITOR, Role.DOCTOR, Role.SERVICE_DESK})


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int


@public_router.post("/auth/token", response_model=TokenOut, responses={401: ERROR_RESPONSES[401]})
@audited(AuditAction.SIGN_IN, target=no_target)
def issue_token(
    runtime: Annotated[Runtime, Depends(get_runtime)],
    audit: Audit,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str, Form(max_length=128)] = "",
    client_secret: Annotated[str, Form(max_length=256)] = "",
    username: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> TokenOut:
    """``client_credentials`` for systems (hospital uploaders), ``password`` for staff accounts."""
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
    ttl = dt.timedelta(seconds=runtime.settings.access_token_seconds)
    subject = f"account:{found.account_id}"
    issued = runtime.issuer.issue(subject=subject, role=found.role.value, ttl=ttl, institution=found.institution)
    audit.about(Target(TargetKind.ACCOUNT, subject))
    audit.record(
        reason="credentials matched an active account",
        basis="credentials",
        details={"grant_type": grant_type},
        actor=Actor(subject, role=found.role.value, institution=found.institution, token_id=issued.jti),
    )
    return TokenOut(access_token=issued.token, expires_in=int(ttl.total_seconds()))


@public_router.get("/.well-known/jwks.json")
def get_jwks(runtime: Annotated[Runtime, Depends(get_runtime)]) -> dict[str, Any]:
    """Public keys that verify this service's tokens (current and, during rotation, previous)."""
    return jwks([runtime.signing_key])


class InstitutionIn(BaseModel):
    code: str = Field(pattern=r"^[A-Za-z0-9_-]{2,64}$")
    name: str = Field(min_length=1, max_length=256)


class AccountIn(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{3,128}$")
    secret: str = Field(min_length=12, max_length=256)
    role: Role
    institution: str | None = None
    display_name: str = Field(default="", max_length=256)


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
            uow.session, body.username, body.secret, body.role, body.institution, body.display_name
        )
        audit.about(Target(TargetKind.ACCOUNT, f"account:{account.id}"))
        audit.allow(uow.session, status=201, details={"role": body.role.value, "institution": body.institution})
        created = Created(id=account.id)
    return created
