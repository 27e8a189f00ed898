"""Creating institutions and accounts, and checking a client's credentials."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.passwords import hash_secret, verify_secret
from auth.principals import Role
from imaging_cloud.accounts.models import Account
from imaging_cloud.errors import Conflict, Unprocessable
from imaging_cloud.identity.models import Institution

#: Roles whose accounts must belong to an institution.
INSTITUTION_ROLES = frozenset({Role.HOSPITAL, Role.DOCTOR, Role.SERVICE_DESK})


def create_institution(session: Session, code: str, name: str) -> Institution:
    if session.scalar(select(Institution).where(Institution.code == code)) is not None:
        raise Conflict("institution code already exists", code="institution-exists")
    institution = Institution(code=code, name=name)
    session.add(institution)
    session.flush()
    return institution


def create_account(
    session: Session,
    username: str,
    secret: str,
    role: Role,
    institution_code: str | None,
    display_name: str = "",
    *,
    practitioner_id: str | None = None,
) -> Account:
    """A new active account; institution roles need a known institution, only doctors carry a practitioner id."""
    if practitioner_id is not None and role is not Role.DOCTOR:
        raise Unprocessable("only doctor accounts carry a practitioner id", code="practitioner-id-not-allowed")
    institution_id = None
    if role in INSTITUTION_ROLES:
        if institution_code is None:
            raise Unprocessable("this role needs an institution", code="institution-required")
        institution_id = session.scalar(select(Institution.id).where(Institution.code == institution_code))
        if institution_id is None:
            raise Unprocessable("unknown institution", code="unknown-institution")
    if session.scalar(select(Account).where(Account.username == username)) is not None:
        raise Conflict("username already exists", code="account-exists")
    account = Account(
        username=username,
        secret_hash=hash_secret(secret),
        role=role.value,
        institution_id=institution_id,
        display_name=display_name,
        practitioner_id=practitioner_id,
    )
    session.add(account)
    session.flush()
    return account


@dataclass(frozen=True)
class Authenticated:
    account_id: int
    role: Role
    institution: str | None


def authenticate(session: Session, username: str, secret: str) -> Authenticated | None:
    """Who signed in, if the credentials match an active account; None otherwise (without saying why)."""
    account = session.scalar(select(Account).where(Account.username == username))
    # verify_secret(None, …) checks a decoy hash, so response time does not reveal which usernames exist.
    if not verify_secret(account.secret_hash if account else None, secret) or account is None or not account.active:
        return None
    code = None
    if account.institution_id is not None:
        code = session.scalar(select(Institution.code).where(Institution.id == account.institution_id))
    return Authenticated(account_id=account.id, role=Role(account.role), institution=code)
