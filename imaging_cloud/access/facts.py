"""Loading the consent facts ``auth.policy.decide`` weighs, from the database, for one principal at one time.

Only facts that can concern the principal are loaded (a doctor's own grants, code and break-glass sessions and
their institution's grants; a proxy's family links; a clerk's in-person sessions), and only active ones: expired,
revoked and ended rows can never allow anything, so leaving them out keeps the fact set small without changing
any decision. Revocation is therefore effective on the very next request: facts are loaded per request, never
cached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from auth.policy import (
    AccessFacts,
    BreakGlassFact,
    CodeSessionFact,
    GrantFact,
    ProxyFact,
    ProxyRight,
    Scope,
    ScopeKind,
    StaffSessionFact,
)
from auth.principals import Principal, Role
from imaging_cloud.accounts.models import Account
from imaging_cloud.consent.models import (
    BreakGlassSession,
    CodeSession,
    Grant,
    ProxyLink,
    ScopeColumns,
    StaffSession,
)
from imaging_cloud.identity.models import Institution, Person


def account_id_of(principal: Principal) -> int | None:
    """The account behind a staff or doctor token (subject ``account:<id>``); None for other subjects."""
    prefix, _, number = principal.subject.partition(":")
    if prefix != "account" or not number.isdigit():
        return None
    return int(number)


def scope_of(row: ScopeColumns) -> Scope:
    return Scope(
        kind=ScopeKind(row.scope_kind),
        study_uids=frozenset(row.scope_study_uids or ()),
        modality=row.scope_modality,
        date_from=row.scope_date_from,
        date_to=row.scope_date_to,
    )


def _doctor_facts(session: Session, principal: Principal, account_id: int, now: dt.datetime) -> AccessFacts:
    institution = session.execute(
        select(Institution.id, Institution.own_institution_access).where(Institution.code == principal.institution)
    ).one_or_none()
    institution_id = institution.id if institution else None
    subject = principal.subject
    grant_rows = session.execute(
        select(Grant, Person.pseudonym)
        .join(Person, Person.id == Grant.person_id)
        .where(
            or_(Grant.grantee_account_id == account_id, Grant.grantee_institution_id == institution_id),
            Grant.revoked_at.is_(None),
            Grant.expires_at > now,
        )
    ).all()
    grants = tuple(
        GrantFact(
            id=grant.id,
            person_ref=pseudonym,
            scope=scope_of(grant),
            expires_at=grant.expires_at,
            grantee_subject=subject if grant.grantee_account_id == account_id else None,
            grantee_institution=None if grant.grantee_account_id == account_id else principal.institution,
        )
        for grant, pseudonym in grant_rows
        if grant.grantee_account_id == account_id or grant.grantee_institution_id == institution_id
    )
    code_rows = session.execute(
        select(CodeSession, Person.pseudonym)
        .join(Person, Person.id == CodeSession.person_id)
        .where(
            CodeSession.doctor_account_id == account_id,
            CodeSession.revoked_at.is_(None),
            CodeSession.expires_at > now,
        )
    ).all()
    glass_rows = session.execute(
        select(BreakGlassSession, Person.pseudonym)
        .join(Person, Person.id == BreakGlassSession.person_id)
        .where(
            BreakGlassSession.doctor_account_id == account_id,
            BreakGlassSession.ended_at.is_(None),
            BreakGlassSession.expires_at > now,
        )
    ).all()
    return AccessFacts(
        grants=grants,
        code_sessions=tuple(
            CodeSessionFact(row.id, pseudonym, subject, scope_of(row), row.expires_at) for row, pseudonym in code_rows
        ),
        break_glass=tuple(BreakGlassFact(row.id, pseudonym, subject, row.expires_at) for row, pseudonym in glass_rows),
        own_institution_access=bool(institution and institution.own_institution_access),
    )


def proxy_rights(link: ProxyLink) -> frozenset[ProxyRight]:
    rights = {
        ProxyRight.VIEW: link.can_view,
        ProxyRight.GRANT: link.can_grant,
        ProxyRight.ISSUE_CODES: link.can_issue_codes,
    }
    return frozenset(right for right, granted in rights.items() if granted)


def active_proxy_links(session: Session, proxy_person_ref: str) -> Iterable[tuple[ProxyLink, str]]:
    """The links through which ``proxy_person_ref`` may act, with the represented person's pseudonym."""
    represented = aliased(Person)
    proxy = aliased(Person)
    rows = session.execute(
        select(ProxyLink, represented.pseudonym)
        .join(represented, represented.id == ProxyLink.person_id)
        .join(proxy, proxy.id == ProxyLink.proxy_person_id)
        .where(proxy.pseudonym == proxy_person_ref, ProxyLink.removed_at.is_(None))
    ).all()
    return [(link, pseudonym) for link, pseudonym in rows]


def _proxy_facts(session: Session, principal: Principal) -> AccessFacts:
    assert principal.person_ref is not None  # guaranteed by Principal for the proxy role
    return AccessFacts(
        proxies=tuple(
            ProxyFact(link.id, pseudonym, principal.person_ref, proxy_rights(link))
            for link, pseudonym in active_proxy_links(session, principal.person_ref)
        )
    )


def _staff_facts(session: Session, principal: Principal, account_id: int, now: dt.datetime) -> AccessFacts:
    assert principal.institution is not None  # guaranteed by Principal for the service-desk role
    rows = session.execute(
        select(StaffSession, Person.pseudonym)
        .join(Person, Person.id == StaffSession.person_id)
        .join(Institution, Institution.id == StaffSession.institution_id)
        .where(
            StaffSession.staff_account_id == account_id,
            Institution.code == principal.institution,
            StaffSession.ended_at.is_(None),
            StaffSession.expires_at > now,
        )
    ).all()
    return AccessFacts(
        staff_sessions=tuple(
            StaffSessionFact(row.id, pseudonym, principal.subject, principal.institution, row.expires_at)
            for row, pseudonym in rows
        )
    )


def _account_is_active(session: Session, account_id: int, principal: Principal) -> bool:
    """A deactivated account, or one moved to another institution, keeps no consent-based access."""
    row = session.execute(
        select(Account.active, Institution.code)
        .outerjoin(Institution, Institution.id == Account.institution_id)
        .where(Account.id == account_id, Account.role == principal.role.value)
    ).one_or_none()
    return row is not None and row.active and row.code == principal.institution


def load_facts(session: Session, principal: Principal, now: dt.datetime) -> AccessFacts:
    """The active facts that can allow ``principal`` anything at ``now`` (empty for roles that need none)."""
    if principal.role is Role.PROXY:
        return _proxy_facts(session, principal)
    if principal.role not in (Role.DOCTOR, Role.SERVICE_DESK):
        return AccessFacts()
    account_id = account_id_of(principal)
    if account_id is None or not _account_is_active(session, account_id, principal):
        return AccessFacts()
    if principal.role is Role.DOCTOR:
        return _doctor_facts(session, principal, account_id, now)
    return _staff_facts(session, principal, account_id, now)
