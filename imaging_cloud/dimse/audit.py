"""The DIMSE side of the audit trail: every association (accepted or rejected), C-ECHO and stored instance.

The actor is the calling AE title (``dimse:<AE>``) with the institution it is registered for, role ``hospital``:
what a STOW-RS upload records as ``client:<institution>``. Targets are the de-identified UIDs ingest returns; a
refused instance is recorded by its failure reason only (its UIDs are the hospital's originals). Nothing from a
data set is read here. Each event is appended in its own transaction; ``AuditUnavailable`` tells the SCP to refuse
(reject the association, fail the C-ECHO or C-STORE with a retryable status).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from auth.policy import OWN_INSTITUTION
from auth.principals import Role
from imaging_cloud.audit.chain import ChainHeadMissing, append
from imaging_cloud.audit.entry import Actor, AuditEntry, Target
from imaging_cloud.audit.recorder import AuditUnavailable
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.identity.models import Institution, Person
from imaging_cloud.ingest.outcome import Failed, Outcome, Stored
from imaging_cloud.runtime import Runtime
from imaging_cloud.studies.models import Study

#: The basis of an admitted association: the calling AE title is registered for the institution.
DIMSE_PEER = "dimse-peer"


@dataclass(frozen=True)
class Caller:
    """One association's calling side, as the trail names it."""

    calling_ae_title: str
    address: str
    association_id: str
    """Groups the events of one association (recorded as the request id)."""
    institution: str | None = None
    """The code of the institution the AE title is registered for; None when it is not admitted."""

    @property
    def actor(self) -> Actor:
        return Actor(subject=f"dimse:{self.calling_ae_title}", role=Role.HOSPITAL.value, institution=self.institution)


def institution_code(session: Session, institution_id: int) -> str | None:
    return session.scalar(select(Institution.code).where(Institution.id == institution_id))


def _record(runtime: Runtime, entry: AuditEntry, study_uid: str | None = None) -> None:
    try:
        with runtime.units() as uow:
            if study_uid is not None:
                query = select(Person.pseudonym).join(Study, Study.person_id == Person.id)
                patient = uow.session.scalar(query.where(Study.study_uid == study_uid))
                entry = replace(entry, patient=patient)
            append(uow.session, entry)
    except (SQLAlchemyError, ChainHeadMissing):
        raise AuditUnavailable("the audit trail is unavailable") from None


def _entry(caller: Caller, action: AuditAction, decision: AuditDecision, **values: Any) -> AuditEntry:
    return AuditEntry(
        actor=caller.actor,
        action=action,
        decision=decision,
        client_address=caller.address,
        request_id=caller.association_id,
        **values,
    )


def record_association(
    runtime: Runtime, caller: Caller, *, called_ae_title: str, tls: bool, refusal: str | None = None
) -> None:
    """An accepted association (``allow``), or a rejected one (``deny``, ``refusal`` naming why)."""
    admitted = refusal is None
    entry = _entry(
        caller,
        AuditAction.DIMSE_ASSOCIATION,
        AuditDecision.ALLOW if admitted else AuditDecision.DENY,
        reason="the calling AE title is registered for the institution" if admitted else "association rejected",
        status=200 if admitted else 403,
        outcome=refusal or "ok",
        basis=DIMSE_PEER if admitted else None,
        target=Target(TargetKind.AE_TITLE, caller.calling_ae_title),
        details={"called_ae": called_ae_title, "tls": tls},
    )
    _record(runtime, entry)


def record_echo(runtime: Runtime, caller: Caller) -> None:
    entry = _entry(
        caller,
        AuditAction.DIMSE_ECHO,
        AuditDecision.ALLOW,
        reason="verification",
        status=200,
        basis=DIMSE_PEER,
        target=Target(TargetKind.AE_TITLE, caller.calling_ae_title),
    )
    _record(runtime, entry)


def record_store(runtime: Runtime, caller: Caller, outcome: Outcome | None, dimse_status: int, reason: str) -> None:
    """One C-STORE: the stored instance by its de-identified UIDs, or the failure reason (``outcome`` None: fault)."""
    if isinstance(outcome, Stored):
        entry = _entry(
            caller,
            AuditAction.DIMSE_STORE,
            AuditDecision.ALLOW,
            reason="stored for the institution the AE title is registered for",
            status=200,
            basis=OWN_INSTITUTION,
            target=Target(TargetKind.INSTANCE, outcome.sop_uid),
            details={
                "study": outcome.study_uid,
                "series": outcome.series_uid,
                "outcome": "already-present" if outcome.already_present else "stored",
                "dimse_status": dimse_status,
            },
        )
        _record(runtime, entry, study_uid=outcome.study_uid)
        return
    slug = outcome.reason.slug if isinstance(outcome, Failed) else reason
    entry = _entry(
        caller,
        AuditAction.DIMSE_STORE,
        AuditDecision.ERROR,
        reason=reason,
        status=503 if slug == "out-of-resources" else 409,
        outcome=slug,
        details={"outcome": "failed", "dimse_status": dimse_status},
    )
    _record(runtime, entry)
