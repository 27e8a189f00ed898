"""Who takes part in a consent act: the person it is about, who acted for them, and the staff or doctor account.

A consent row records who made it: the person themself or a family member (``acted_by_person_id``), or a
service-desk clerk in an attested in-person session (``staff_session_id``, taken from the decision's
``staff-assisted:<id>`` basis). People are found by the keyed lookup hash of an identifier they present; the
identifier is never stored, echoed or recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from auth.policy import Decision
from auth.principals import Principal
from imaging_cloud.access.facts import account_id_of
from imaging_cloud.accounts.models import Account
from imaging_cloud.audit.search import pseudonym_of
from imaging_cloud.consent.models import ActedByColumns
from imaging_cloud.errors import Forbidden, NotFound, Unprocessable
from imaging_cloud.identity.models import Institution, Person
from imaging_cloud.keys import KeyRing

STAFF_ASSISTED_PREFIX = "staff-assisted:"


@dataclass(frozen=True)
class ActedBy:
    person_id: int | None
    staff_session_id: int | None

    def stamp(self, row: ActedByColumns) -> None:
        row.acted_by_person_id = self.person_id
        row.staff_session_id = self.staff_session_id


def staff_session_of(decision: Decision) -> int | None:
    """The in-person session a ``staff-assisted:<id>`` decision rests on."""
    basis = decision.basis or ""
    if basis.startswith(STAFF_ASSISTED_PREFIX) and basis[len(STAFF_ASSISTED_PREFIX) :].isdigit():
        return int(basis[len(STAFF_ASSISTED_PREFIX) :])
    return None


def person_id_of_ref(session: Session, person_ref: str | None) -> int | None:
    if person_ref is None:
        return None
    return session.scalar(select(Person.id).where(Person.pseudonym == person_ref))


def acted_by(session: Session, principal: Principal, decision: Decision) -> ActedBy:
    """Who performed an act the policy allowed: desk staff (by session) or the signed-in person (self or proxy)."""
    staff_session = staff_session_of(decision)
    if staff_session is not None:
        return ActedBy(person_id=None, staff_session_id=staff_session)
    return ActedBy(person_id=person_id_of_ref(session, principal.person_ref), staff_session_id=None)


def find_person(
    session: Session, keys: KeyRing, *, national_id: str | None = None, health_card: str | None = None
) -> Person:
    """The known person an identifier names; 404 ``person-not-found`` without saying which value failed."""
    if not (national_id or health_card):
        raise Unprocessable("give a national ID or a health card number", code="identifier-required")
    pseudonym = pseudonym_of(session, keys, national_id=national_id, health_card=health_card)
    person = session.scalar(select(Person).where(Person.pseudonym == pseudonym)) if pseudonym else None
    if person is None:
        raise NotFound("no person is known by that identifier", code="person-not-found")
    return person


def masked_name(keys: KeyRing, person: Person) -> str:
    """The name as people are shown it to recognize a family member: first character, the rest starred."""
    if person.name_encrypted is None:
        return "*"
    name = keys.decrypt(person.name_encrypted).strip()
    return name[:1] + "*" * max(1, len(name) - 1) if name else "*"


@dataclass(frozen=True)
class StaffAccount:
    """A doctor's or clerk's active account, bound to the institution their token names."""

    account_id: int
    institution_id: int
    subject: str


def active_account(session: Session, principal: Principal) -> StaffAccount:
    """The account behind the token; consent sessions are tied to accounts, so other subjects are refused (403)."""
    account_id = account_id_of(principal)
    row = (
        session.execute(
            select(Account.active, Account.institution_id, Institution.code)
            .join(Institution, Institution.id == Account.institution_id)
            .where(Account.id == account_id, Account.role == principal.role.value)
        ).one_or_none()
        if account_id is not None
        else None
    )
    if account_id is None or row is None or not row.active or row.code != principal.institution:
        raise Forbidden("this needs an active account of the institution", code="account-required")
    return StaffAccount(account_id=account_id, institution_id=row.institution_id, subject=principal.subject)
