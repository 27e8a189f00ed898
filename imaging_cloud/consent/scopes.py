"""Which of a person's studies a grant or a one-time code covers, as the API takes and shows it.

The request form is checked twice: by ``auth.policy.Scope`` (the shape: a modality scope names a modality…) and
against the database (a listed study must be one of the person's own studies), so a grant can never name a study
of somebody else.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auth.policy import Scope, ScopeKind
from imaging_cloud.access.facts import scope_of
from imaging_cloud.consent.models import ScopeColumns
from imaging_cloud.errors import Unprocessable
from imaging_cloud.studies.models import Study

MAX_LISTED_STUDIES = 200


class ScopeIn(BaseModel):
    """``all`` studies, listed ``studies``, one ``modality``, or a ``date-range`` (``YYYYMMDD``, inclusive)."""

    kind: ScopeKind = ScopeKind.ALL
    study_uids: list[str] = Field(default_factory=list, max_length=MAX_LISTED_STUDIES)
    modality: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,16}$")
    date_from: str | None = Field(default=None, pattern=r"^[0-9]{8}$")
    date_to: str | None = Field(default=None, pattern=r"^[0-9]{8}$")

    def to_scope(self) -> Scope:
        """The policy's scope, keeping only the fields the kind uses; a bad shape is a 422 ``invalid-scope``."""
        kind = self.kind
        try:
            return Scope(
                kind=kind,
                study_uids=frozenset(self.study_uids) if kind is ScopeKind.STUDIES else frozenset(),
                modality=self.modality if kind is ScopeKind.MODALITY else None,
                date_from=self.date_from if kind is ScopeKind.DATE_RANGE else None,
                date_to=self.date_to if kind is ScopeKind.DATE_RANGE else None,
            )
        except ValueError as exc:
            raise Unprocessable(str(exc), code="invalid-scope") from None


class ScopeOut(BaseModel):
    kind: ScopeKind
    study_uids: list[str] = Field(default_factory=list)
    modality: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    @classmethod
    def of(cls, scope: Scope) -> ScopeOut:
        return cls(
            kind=scope.kind,
            study_uids=sorted(scope.study_uids),
            modality=scope.modality,
            date_from=scope.date_from,
            date_to=scope.date_to,
        )

    @classmethod
    def of_row(cls, row: ScopeColumns) -> ScopeOut:
        return cls.of(scope_of(row))


def check_studies_belong(session: Session, scope: Scope, person_id: int) -> None:
    """A listed-studies scope may only name studies of the person themself (422 ``scope-study-not-found``)."""
    if scope.kind is not ScopeKind.STUDIES:
        return
    found = session.scalar(
        select(func.count(Study.id)).where(Study.person_id == person_id, Study.study_uid.in_(sorted(scope.study_uids)))
    )
    if found != len(scope.study_uids):
        raise Unprocessable("a listed study is not one of this person's studies", code="scope-study-not-found")


def store_scope(row: ScopeColumns, scope: Scope) -> None:
    """Write ``scope`` into a grant's or a code's scope columns."""
    row.scope_kind = scope.kind.value
    row.scope_study_uids = sorted(scope.study_uids)
    row.scope_modality = scope.modality
    row.scope_date_from = scope.date_from
    row.scope_date_to = scope.date_to


def scope_details(scope: Scope) -> dict[str, str | int]:
    """The scope for an audit event: its kind and narrowing values (de-identified UIDs are counted, not listed)."""
    details: dict[str, str | int] = {"scope": scope.kind.value}
    if scope.kind is ScopeKind.STUDIES:
        details["scope_studies"] = len(scope.study_uids)
    if scope.modality:
        details["scope_modality"] = scope.modality
    if scope.date_from:
        details["scope_from"] = scope.date_from
    if scope.date_to:
        details["scope_to"] = scope.date_to
    return details
