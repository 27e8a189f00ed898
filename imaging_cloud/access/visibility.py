"""Authorization in the query: every read starts from what the principal may see, filtered in SQL.

``visible_studies`` / ``visible_instances`` translate ``auth.policy.visible_scope`` into WHERE clauses, so lists
and searches never fetch rows to filter them in Python. ``authorize_study`` and ``authorize_person`` turn the pure
decision of ``auth.policy.decide`` into an ``AuthorizedStudy`` / ``AuthorizedPerson`` — the only things the routes
that act on one study or one person accept — or a 404 (not visible) / 403 (visible, action not allowed).
Facts are loaded per call from the database: a revoked grant stops working on the very next request. One
``authorize_study`` call loads them once and keeps the principal's scope on the ``StudyAccess`` it returns, so the
instance filter inside the study (``StudyAccess.visible_instances``) weighs the very facts the decision weighed,
without loading them again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NewType

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from auth.policy import (
    OWN_INSTITUTION,
    OWN_UPLOAD,
    AccessFacts,
    Action,
    Decision,
    PersonFacts,
    PersonScope,
    ScopeKind,
    StudyFacts,
    VisibleScope,
    decide,
    visible_scope,
)
from auth.principals import Principal
from imaging_cloud.access.facts import load_facts
from imaging_cloud.errors import Forbidden, NotFound
from imaging_cloud.identity.models import Institution, Person
from imaging_cloud.studies.models import Instance, Series, Study


@dataclass(frozen=True)
class StudyAccess:
    study: Study
    decision: Decision
    institution_id: int | None
    """Set when the study is seen only through the principal's institution (hospital read-back, own-institution
    doctors): instances and reports are then narrowed to what that institution uploaded."""
    scope: VisibleScope | None = None
    """What the principal may see, from the facts the decision was made on (None: not computed)."""

    def visible_instances(self) -> ColumnElement[bool]:
        """A WHERE clause on ``Instance``: the instances the principal may see (same facts as the decision)."""
        if self.scope is None:
            raise RuntimeError("this StudyAccess was built without the principal's scope")
        return instances_in_scope(self.scope)


AuthorizedStudy = NewType("AuthorizedStudy", StudyAccess)


@dataclass(frozen=True)
class PersonAccess:
    person: Person
    decision: Decision


AuthorizedPerson = NewType("AuthorizedPerson", PersonAccess)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def institution_id_of(session: Session, principal: Principal) -> int | None:
    if principal.institution is None:
        return None
    return session.scalar(select(Institution.id).where(Institution.code == principal.institution))


def scope_of_principal(session: Session, principal: Principal, now: dt.datetime | None = None) -> VisibleScope:
    at = now or _now()
    return visible_scope(principal, load_facts(session, principal, at), at)


def _person_clause(person: PersonScope) -> ColumnElement[bool]:
    owner = Study.person_id == select(Person.id).where(Person.pseudonym == person.person_ref).scalar_subquery()
    scope = person.scope
    if scope.kind is ScopeKind.ALL:
        narrowing: ColumnElement[bool] = true()
    elif scope.kind is ScopeKind.STUDIES:
        narrowing = Study.study_uid.in_(sorted(scope.study_uids))
    elif scope.kind is ScopeKind.MODALITY:
        narrowing = exists().where(Series.study_id == Study.id, Series.modality == scope.modality)
    else:
        narrowing = and_(
            Study.study_date != "",
            Study.study_date >= (scope.date_from or "00000000"),
            Study.study_date <= (scope.date_to or "99999999"),
        )
    return and_(owner, narrowing)


def _whole_studies(scope: VisibleScope) -> ColumnElement[bool]:
    """Studies a person scope admits (every instance of them is visible)."""
    if not scope.persons:
        return false()
    return or_(*(_person_clause(person) for person in sorted(scope.persons, key=repr)))


def _uploading_institutions(scope: VisibleScope) -> ColumnElement[bool]:
    """Instances uploaded by an institution the scope names (hospital read-back, own-institution doctors)."""
    if not scope.uploaded_by_any_of:
        return false()
    ids = select(Institution.id).where(Institution.code.in_(sorted(scope.uploaded_by_any_of)))
    return Instance.institution_id.in_(ids)


def studies_in_scope(scope: VisibleScope) -> ColumnElement[bool]:
    """A WHERE clause on ``Study`` admitting exactly the studies ``scope.admits`` admits."""
    if scope.is_empty:
        return false()
    uploaded = select(Instance.study_id).where(_uploading_institutions(scope))
    return or_(Study.id.in_(uploaded), _whole_studies(scope))


def instances_in_scope(scope: VisibleScope) -> ColumnElement[bool]:
    """A WHERE clause on ``Instance``: whole studies a person scope admits, else the named institutions' uploads."""
    if scope.is_empty:
        return false()
    whole = select(Study.id).where(_whole_studies(scope))
    return or_(_uploading_institutions(scope), Instance.study_id.in_(whole))


def visible_studies(session: Session, principal: Principal) -> ColumnElement[bool]:
    return studies_in_scope(scope_of_principal(session, principal))


def visible_instances(session: Session, principal: Principal) -> ColumnElement[bool]:
    return instances_in_scope(scope_of_principal(session, principal))


def _uploaders(session: Session, study: Study) -> dict[str, int]:
    """Code → id of every institution that uploaded an instance of ``study``."""
    rows = session.execute(
        select(Institution.code, Institution.id)
        .join(Instance, Instance.institution_id == Institution.id)
        .where(Instance.study_id == study.id)
        .distinct()
    )
    return {row.code: row.id for row in rows}


def _study_facts(session: Session, study: Study, pseudonym: str | None, uploaders: dict[str, int]) -> StudyFacts:
    modalities = session.scalars(select(Series.modality).where(Series.study_id == study.id).distinct())
    return StudyFacts(
        study_uid=study.study_uid,
        person_ref=pseudonym or f"missing-person:{study.person_id}",
        uploaded_by=frozenset(uploaders),
        modalities=frozenset(m for m in modalities if m),
        study_date=study.study_date or "",
    )


def _enforce(decision: Decision, not_found: NotFound) -> None:
    if not decision.visible:
        raise not_found
    if not decision.allowed:
        raise Forbidden(decision.reason, code="action-not-allowed")


def authorize_study(
    session: Session,
    principal: Principal,
    action: Action,
    study_uid: str,
    facts: AccessFacts | None = None,
) -> AuthorizedStudy:
    """The study, if ``principal`` may ``action`` it now; 404 if it may not see it, 403 if it may see only.

    The returned access carries the principal's scope from the same facts (see the module docstring)."""
    row = session.execute(
        select(Study, Person.pseudonym)
        .outerjoin(Person, Person.id == Study.person_id)
        .where(Study.study_uid == study_uid)
    ).one_or_none()
    if row is None:
        raise NotFound("study not found", code="study-not-found")
    study, pseudonym = row
    now = _now()
    uploaders = _uploaders(session, study)
    access_facts = facts or load_facts(session, principal, now)
    decision = decide(principal, action, _study_facts(session, study, pseudonym, uploaders), access_facts, now)
    _enforce(decision, NotFound("study not found", code="study-not-found", audit_reason=decision.reason))
    institution_id = None
    if decision.basis in (OWN_UPLOAD, OWN_INSTITUTION):
        # Narrowed access means the principal's institution uploaded to this study: its id is among the uploaders.
        institution_id = uploaders.get(principal.institution or "") or institution_id_of(session, principal)
    return AuthorizedStudy(
        StudyAccess(
            study=study,
            decision=decision,
            institution_id=institution_id,
            scope=visible_scope(principal, access_facts, now),
        )
    )


def authorize_person(session: Session, principal: Principal, action: Action, person_ref: str) -> AuthorizedPerson:
    """The person, if ``principal`` may ``action`` on their behalf now (same 404/403 rules as studies)."""
    person = session.scalar(select(Person).where(Person.pseudonym == person_ref)) if len(person_ref) <= 64 else None
    if person is None:
        raise NotFound("person not found", code="person-not-found")
    now = _now()
    decision = decide(principal, action, PersonFacts(person.pseudonym), load_facts(session, principal, now), now)
    _enforce(decision, NotFound("person not found", code="person-not-found", audit_reason=decision.reason))
    return AuthorizedPerson(PersonAccess(person=person, decision=decision))
