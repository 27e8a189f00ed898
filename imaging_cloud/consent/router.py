"""A person's consent routes: grants, one-time codes, family proxies, break-glass seen, who viewed the data.

The same routes serve the person, a family member with a proxy token for them, and a service-desk clerk in an
in-person session: ``authorize_person`` asks the policy, which answers 404 for a person the caller may not act
for and 403 for an act the caller's link or session does not include. Each act and its audit event commit in one
transaction; the event names the person (target and ``patient``), and its basis says who acted how (``own-data``,
``proxy``, ``staff-assisted:<id>``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel

from auth.policy import Action
from auth.principals import Role
from imaging_cloud.access.principal import CurrentPrincipal
from imaging_cloud.access.visibility import authorize_person
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited, no_target
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.consent.access_log import DEFAULT_PAGE, MAX_PAGE, EventPage, about_person, page_events, uses_of_grant
from imaging_cloud.consent.actors import acted_by, find_person
from imaging_cloud.consent.break_glass import BreakGlassView, sessions_of_person
from imaging_cloud.consent.codes import CodeIn, CodeOut, code_of_person, issue_code, list_codes, revoke_code
from imaging_cloud.consent.grants import (
    GrantIn,
    GrantOut,
    create_grant,
    grant_of_person,
    grantee_subject,
    list_grants,
    revoke_grant,
)
from imaging_cloud.consent.proxies import (
    ProxyIn,
    ProxyOut,
    RepresentedOut,
    add_link,
    link_of_person,
    list_links,
    remove_link,
    represented_by,
    rights_of,
)
from imaging_cloud.consent.qr import qr_svg
from imaging_cloud.consent.scopes import ScopeOut, scope_details
from imaging_cloud.errors import ERROR_RESPONSES, Forbidden
from imaging_cloud.runtime import Runtime, get_runtime

router = APIRouter(prefix="/persons/{person_ref}", tags=["consent"], responses=ERROR_RESPONSES)
me_router = APIRouter(prefix="/me", tags=["consent"], responses=ERROR_RESPONSES)

_PSEUDONYM = re.compile(r"[A-Z2-7]{32}")
PersonRef = Annotated[str, Path(min_length=1, max_length=64, description="The person's pseudonym")]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def person_target(path_params: Mapping[str, str], runtime: Runtime) -> Target | None:
    """The person in the path, for events of refused requests too; anything but a pseudonym stays out."""
    value = path_params.get("person_ref")
    if value is None:
        return None
    return Target(TargetKind.PERSON, value if _PSEUDONYM.fullmatch(value) else "not-a-pseudonym")


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _about(audit: Audit, person_ref: str) -> None:
    audit.about(Target(TargetKind.PERSON, person_ref), patient=person_ref)


# -- grants ----------------------------------------------------------------------------------------------------


@router.post("/grants", response_model=GrantOut, status_code=201)
@audited(AuditAction.GRANT_CREATE, target=person_target)
def post_grant(person_ref: PersonRef, body: GrantIn, principal: CurrentPrincipal, audit: Audit) -> GrantOut:
    """Grant a doctor or an institution access to some or all of the person's studies until a date."""
    now = now_utc()
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.MANAGE_GRANTS, person_ref)
        person = access.person
        grant = create_grant(uow.session, person, body, acted_by(uow.session, principal, access.decision), now)
        [created] = list_grants(uow.session, person.id, now, grant.id)
        _about(audit, person.pseudonym)
        audit.allow(
            uow.session,
            decision=access.decision,
            status=201,
            details={
                "grant": grant.id,
                "grantee": grantee_subject(grant),
                "purpose": grant.purpose,
                "expires_at": grant.expires_at.isoformat(),
                **scope_details(body.scope.to_scope()),
            },
        )
    return created


@router.get("/grants", response_model=list[GrantOut])
@audited(AuditAction.GRANT_LIST, target=person_target)
def get_grants(person_ref: PersonRef, principal: CurrentPrincipal, audit: Audit) -> list[GrantOut]:
    """The person's grants, active and past, each with its state (active, expired, revoked)."""
    now = now_utc()
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.MANAGE_GRANTS, person_ref)
        grants = list_grants(uow.session, access.person.id, now)
        _about(audit, access.person.pseudonym)
        audit.allow(uow.session, decision=access.decision, details={"count": len(grants)})
    return grants


@router.delete("/grants/{grant_id}", response_model=GrantOut)
@audited(AuditAction.GRANT_REVOKE, target=person_target)
def delete_grant(person_ref: PersonRef, grant_id: int, principal: CurrentPrincipal, audit: Audit) -> GrantOut:
    """Revoke a grant; the grantee's very next request is refused."""
    now = now_utc()
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.MANAGE_GRANTS, person_ref)
        grant = grant_of_person(uow.session, access.person.id, grant_id)
        revoked = revoke_grant(uow.session, grant, acted_by(uow.session, principal, access.decision), now)
        [shown] = list_grants(uow.session, access.person.id, now, grant.id)
        _about(audit, access.person.pseudonym)
        audit.allow(uow.session, decision=access.decision, details={"grant": grant.id, "revoked_now": revoked})
    return shown


@router.get("/grants/{grant_id}/uses", response_model=EventPage)
@audited(AuditAction.GRANT_USES, target=person_target)
def get_grant_uses(
    person_ref: PersonRef,
    grant_id: int,
    principal: CurrentPrincipal,
    audit: Audit,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> EventPage:
    """Every recorded access that rested on the grant, newest first."""
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.VIEW_ACCESS_LOG, person_ref)
        grant = grant_of_person(uow.session, access.person.id, grant_id)
        conditions = [*uses_of_grant(grant.id), *about_person(access.person.pseudonym, others_only=False)]
        page = page_events(uow.session, conditions, before=before, limit=limit)
        _about(audit, access.person.pseudonym)
        audit.allow(uow.session, decision=access.decision, details={"grant": grant.id, "count": len(page.events)})
    return page


# -- one-time codes --------------------------------------------------------------------------------------------


class IssuedCodeOut(BaseModel):
    code: str
    public_id: str
    expires_at: dt.datetime
    session_minutes: int
    scope: ScopeOut
    qr_svg: str


@router.post("/codes", response_model=IssuedCodeOut, status_code=201)
@audited(AuditAction.CODE_ISSUE, target=person_target)
def post_code(
    person_ref: PersonRef, body: CodeIn, principal: CurrentPrincipal, runtime: RuntimeDep, audit: Audit
) -> IssuedCodeOut:
    """A single-use code (text and QR) for a doctor to open a session on the person's studies."""
    now = now_utc()
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.ISSUE_CODE, person_ref)
        acted = acted_by(uow.session, principal, access.decision)
        issued = issue_code(uow.session, runtime.keys, access.person, body, acted, now)
        scope = body.scope.to_scope()
        _about(audit, access.person.pseudonym)
        audit.allow(
            uow.session,
            decision=access.decision,
            status=201,
            details={
                "code": issued.row.public_id,
                "ttl_seconds": body.ttl_seconds,
                "session_minutes": body.session_minutes,
                **scope_details(scope),
            },
        )
    return IssuedCodeOut(
        code=issued.code,
        public_id=issued.row.public_id,
        expires_at=issued.row.expires_at,
        session_minutes=body.session_minutes,
        scope=ScopeOut.of(scope),
        qr_svg=qr_svg(issued.code),
    )


@router.get("/codes", response_model=list[CodeOut])
@audited(AuditAction.CODE_LIST, target=person_target)
def get_codes(person_ref: PersonRef, principal: CurrentPrincipal, audit: Audit) -> list[CodeOut]:
    """The person's codes with their state; never a secret."""
    now = now_utc()
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.ISSUE_CODE, person_ref)
        codes = list_codes(uow.session, access.person.id, now)
        _about(audit, access.person.pseudonym)
        audit.allow(uow.session, decision=access.decision, details={"count": len(codes)})
    return codes


@router.delete("/codes/{public_id}", status_code=204, response_class=Response)
@audited(AuditAction.CODE_REVOKE, target=person_target)
def delete_code(
    person_ref: PersonRef,
    public_id: Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")],
    principal: CurrentPrincipal,
    audit: Audit,
) -> Response:
    """Revoke a code; if a doctor already used it, the session it opened ends too."""
    now = now_utc()
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.ISSUE_CODE, person_ref)
        code = code_of_person(uow.session, access.person.id, public_id)
        ended = revoke_code(uow.session, code, now)
        _about(audit, access.person.pseudonym)
        audit.allow(
            uow.session, decision=access.decision, status=204, details={"code": code.public_id, "sessions_ended": ended}
        )
    return Response(status_code=204)


# -- family proxies --------------------------------------------------------------------------------------------


@router.post("/proxies", response_model=ProxyOut, status_code=201)
@audited(AuditAction.PROXY_ADD, target=person_target)
def post_proxy(
    person_ref: PersonRef, body: ProxyIn, principal: CurrentPrincipal, runtime: RuntimeDep, audit: Audit
) -> ProxyOut:
    """Let a known family member act for the person with the chosen rights."""
    now = now_utc()
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.MANAGE_PROXIES, person_ref)
        proxy = find_person(
            uow.session, runtime.keys, national_id=body.proxy.national_id, health_card=body.proxy.health_card
        )
        rights = rights_of(body.rights)
        acted = acted_by(uow.session, principal, access.decision)
        link = add_link(uow.session, access.person, proxy, body.relationship.value, rights, acted, now)
        [shown] = [item for item in list_links(uow.session, runtime.keys, access.person.id) if item.id == link.id]
        _about(audit, access.person.pseudonym)
        audit.allow(
            uow.session,
            decision=access.decision,
            status=201,
            details={
                "proxy_link": link.id,
                "proxy": proxy.pseudonym,
                "relationship": link.relationship,
                "rights": sorted(rights),
            },
        )
    return shown


@router.get("/proxies", response_model=list[ProxyOut])
@audited(AuditAction.PROXY_LIST, target=person_target)
def get_proxies(
    person_ref: PersonRef, principal: CurrentPrincipal, runtime: RuntimeDep, audit: Audit
) -> list[ProxyOut]:
    """The person's family links, active and removed."""
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.MANAGE_PROXIES, person_ref)
        links = list_links(uow.session, runtime.keys, access.person.id)
        _about(audit, access.person.pseudonym)
        audit.allow(uow.session, decision=access.decision, details={"count": len(links)})
    return links


@router.delete("/proxies/{proxy_id}", status_code=204, response_class=Response)
@audited(AuditAction.PROXY_REMOVE, target=person_target)
def delete_proxy(person_ref: PersonRef, proxy_id: int, principal: CurrentPrincipal, audit: Audit) -> Response:
    """Remove a family link at once (the person themself or desk staff; a proxy cannot manage proxies)."""
    now = now_utc()
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.MANAGE_PROXIES, person_ref)
        link = link_of_person(uow.session, access.person.id, proxy_id)
        removed = remove_link(uow.session, link, acted_by(uow.session, principal, access.decision), now)
        _about(audit, access.person.pseudonym)
        audit.allow(
            uow.session, decision=access.decision, status=204, details={"proxy_link": link.id, "removed_now": removed}
        )
    return Response(status_code=204)


# -- what others did -------------------------------------------------------------------------------------------


@router.get("/break-glass", response_model=list[BreakGlassView])
@audited(AuditAction.BREAK_GLASS_LIST, target=person_target)
def get_break_glass(person_ref: PersonRef, principal: CurrentPrincipal, audit: Audit) -> list[BreakGlassView]:
    """Every emergency session a doctor opened on the person's studies, with the reason given."""
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.VIEW_ACCESS_LOG, person_ref)
        sessions = sessions_of_person(uow.session, access.person.id)
        _about(audit, access.person.pseudonym)
        audit.allow(uow.session, decision=access.decision, details={"count": len(sessions)})
    return sessions


@router.get("/access-log", response_model=EventPage)
@audited(AuditAction.ACCESS_LOG_VIEW, target=person_target)
def get_access_log(
    person_ref: PersonRef,
    principal: CurrentPrincipal,
    audit: Audit,
    before: Annotated[int | None, Query(ge=1, description="The next_before of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    others: Annotated[bool, Query(description="Leave out what the person did themself")] = True,
) -> EventPage:
    """Who accessed the person's data (and was refused), newest first."""
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.VIEW_ACCESS_LOG, person_ref)
        conditions = about_person(access.person.pseudonym, others_only=others)
        page = page_events(uow.session, conditions, before=before, limit=limit)
        _about(audit, access.person.pseudonym)
        audit.allow(uow.session, decision=access.decision, details={"count": len(page.events), "others": others})
    return page


# -- the signed-in person --------------------------------------------------------------------------------------


@me_router.get("/represented", response_model=list[RepresentedOut])
@audited(AuditAction.REPRESENTED_LIST, target=no_target)
def get_represented(principal: CurrentPrincipal, runtime: RuntimeDep, audit: Audit) -> list[RepresentedOut]:
    """The people the signed-in patient may act for as a family proxy, with the rights each link gives."""
    if principal.role is not Role.PATIENT or principal.person_ref is None:
        raise Forbidden("only a signed-in patient lists whom they represent", code="patients-only")
    with audit.transaction() as uow:
        access = authorize_person(uow.session, principal, Action.SEARCH, principal.person_ref)
        represented = represented_by(uow.session, runtime.keys, access.person.pseudonym)
        _about(audit, access.person.pseudonym)
        audit.allow(uow.session, decision=access.decision, details={"count": len(represented)})
    return represented
