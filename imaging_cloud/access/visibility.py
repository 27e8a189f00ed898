"""Authorization in the query: every read starts from what the principal may see, filtered in SQL.

``authorize_study`` turns the pure decision of ``auth.policy.decide`` into an ``AuthorizedStudy`` — the only
thing the retrieve routes accept — or a 404 (not visible) / 403 (visible, action not allowed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NewType

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session

from auth.policy import Action, Decision, StudyFacts, decide, visible_scope
from auth.principals import Principal, Role
from imaging_cloud.errors import Forbidden, NotFound
from imaging_cloud.identity.models import Institution
from imaging_cloud.studies.models import Instance, Study


@dataclass(frozen=True)
class StudyAccess:
    study: Study
    decision: Decision
    institution_id: int | None
    """Set when the principal sees only its own institution's instances of the study (hospital read-back)."""


AuthorizedStudy = NewType("AuthorizedStudy", StudyAccess)


def institution_id_of(session: Session, principal: Principal) -> int | None:
    if principal.institution is None:
        return None
    return session.scalar(select(Institution.id).where(Institution.code == principal.institution))


def visible_studies(session: Session, principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on ``Study`` admitting exactly the studies ``auth.policy.visible_scope`` admits."""
    scope = visible_scope(principal)
    if scope.is_empty:
        return false()
    uploaded = (
        select(Instance.study_id)
        .join(Institution, Institution.id == Instance.institution_id)
        .where(Institution.code.in_(sorted(scope.uploaded_by_any_of)))
    )
    return Study.id.in_(uploaded)


def visible_instances(session: Session, principal: Principal) -> ColumnElement[bool]:
    """A WHERE clause on ``Instance``: a hospital sees back only the instances it uploaded."""
    if principal.role == Role.HOSPITAL:
        institution_id = institution_id_of(session, principal)
        if institution_id is None:
            return false()
        return Instance.institution_id == institution_id
    return Instance.study_id.in_(select(Study.id).where(visible_studies(session, principal)))


def study_facts(session: Session, study: Study) -> StudyFacts:
    uploaders = session.scalars(
        select(Institution.code)
        .join(Instance, Instance.institution_id == Institution.id)
        .where(Instance.study_id == study.id)
        .distinct()
    )
    return StudyFacts(study_uid=study.study_uid, person_ref=str(study.person_id), uploaded_by=frozenset(uploaders))


def authorize_study(session: Session, principal: Principal, action: Action, study_uid: str) -> AuthorizedStudy:
    study = session.scalar(select(Study).where(Study.study_uid == study_uid))
    if study is None:
        raise NotFound("study not found", code="study-not-found")
    decision = decide(principal, action, study_facts(session, study), dt.datetime.now(dt.UTC))
    if not decision.visible:
        raise NotFound("study not found", code="study-not-found", audit_reason=decision.reason)
    if not decision.allowed:
        raise Forbidden(decision.reason, code="action-not-allowed")
    institution_id = institution_id_of(session, principal) if principal.role == Role.HOSPITAL else None
    return AuthorizedStudy(StudyAccess(study=study, decision=decision, institution_id=institution_id))
