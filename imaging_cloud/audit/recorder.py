"""One event per audited HTTP request, written before anything is served; if it cannot be written, 503.

Routes are marked with ``@audited(action)`` (the route inventory test requires it of every non-public route)
and take the request-scoped ``Audit`` dependency. Two ways to record, both exactly once per request:

* ``with audit.transaction() as uow: …; audit.allow(uow.session, …)`` — the access and its event commit in one
  transaction (reads, registrations, administration). The response is built only after the commit, so a
  streamed body starts after its event exists. If the commit fails, the route answers 503 ``audit-unavailable``.
* ``audit.record(…)`` — the event in a short transaction of its own, for work that committed in its own units
  (STOW ingests each instance in its own unit of work, reports too) and for sign-in.

A request that fails before recording (401 from the token check, 403/404 from the access layer, 400/406/413…
anywhere) is recorded by ``record_failure``, which the error handlers call with the answer's status and code.
If even that cannot be written, the answer becomes 503: nothing is served without its event.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from auth.policy import Decision
from auth.principals import Principal
from imaging_cloud.access.visibility import StudyAccess
from imaging_cloud.audit.chain import ChainHeadMissing, append
from imaging_cloud.audit.checkpoints import CHECKPOINT_INTERVAL, sign_event
from imaging_cloud.audit.entry import ANONYMOUS, Actor, AuditEntry, Target
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.db.unit_of_work import UnitOfWork
from imaging_cloud.errors import ServiceUnavailable
from imaging_cloud.identity.models import Person
from imaging_cloud.runtime import Runtime
from imaging_cloud.studies.models import Study

logger = logging.getLogger(__name__)

_ACTION_ATTRIBUTE = "__audit_action__"
_TARGET_ATTRIBUTE = "__audit_path_target__"
_UID = re.compile(r"[0-9]{1,40}(\.[0-9]{1,40}){1,40}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: Statuses the authentication and authorization layers answer with; recorded as ``deny``.
DENIAL_STATUSES = frozenset({401, 403, 404})

PathTarget = Callable[[Mapping[str, str], Runtime], "Target | None"]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class AuditUnavailable(ServiceUnavailable):
    code = "audit-unavailable"


def _uid_or_marker(value: str) -> str:
    """A path value as a target id only if it is a UID: whatever else a client types stays out of the trail."""
    return value if len(value) <= 64 and _UID.fullmatch(value) else "not-a-uid"


def uid_target(path_params: Mapping[str, str], runtime: Runtime) -> Target | None:
    """The most specific de-identified UID in the path (instance, series, study, report)."""
    for name, kind in (
        ("instance", TargetKind.INSTANCE),
        ("series", TargetKind.SERIES),
        ("study", TargetKind.STUDY),
        ("report_uid", TargetKind.REPORT),
    ):
        if (value := path_params.get(name)) is not None:
            return Target(kind, _uid_or_marker(value))
    return None


def no_target(path_params: Mapping[str, str], runtime: Runtime) -> Target | None:
    return None


def audited(action: AuditAction, *, target: PathTarget = uid_target) -> Callable[[Endpoint], Endpoint]:
    """Mark a route's endpoint with the action its requests are recorded as (and how to name their target)."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _ACTION_ATTRIBUTE, action)
        setattr(endpoint, _TARGET_ATTRIBUTE, target)
        return endpoint

    return mark


def audit_action_of(endpoint: object) -> AuditAction | None:
    """The action an endpoint is recorded as, or ``None`` if it is not audited (health, JWKS, docs)."""
    action = getattr(endpoint, _ACTION_ATTRIBUTE, None)
    return action if isinstance(action, AuditAction) else None


@dataclass(frozen=True)
class RequestContext:
    client_address: str | None
    user_agent: str | None
    request_id: str


def request_context(request: Request) -> RequestContext:
    """Where the request came from; the request id is the client's ``X-Request-ID`` if well-formed, else new."""
    existing = getattr(request.state, "audit_context", None)
    if isinstance(existing, RequestContext):
        return existing
    offered = request.headers.get("x-request-id", "")
    context = RequestContext(
        client_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        request_id=offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex,
    )
    request.state.audit_context = context
    return context


def _context_details(path_params: Mapping[str, str], target: Target | None) -> dict[str, Any]:
    """The enclosing study (and series) of a series- or instance-level target, for searching by study."""
    details: dict[str, Any] = {}
    if target is not None and target.kind in (TargetKind.SERIES, TargetKind.INSTANCE) and "study" in path_params:
        details["study"] = _uid_or_marker(path_params["study"])
    if target is not None and target.kind is TargetKind.INSTANCE and "series" in path_params:
        details["series"] = _uid_or_marker(path_params["series"])
    return details


def _patient_of_study(session: Session, *, study_id: int | None = None, study_uid: str | None = None) -> str | None:
    """The pseudonym of the person a study belongs to (part of writing the event: a failure is a 503)."""
    query = select(Person.pseudonym).join(Study, Study.person_id == Person.id)
    query = query.where(Study.id == study_id) if study_id is not None else query.where(Study.study_uid == study_uid)
    try:
        return session.scalar(query)
    except SQLAlchemyError:
        logger.error("the audit event could not be written; refusing the request")
        raise AuditUnavailable("the audit trail is unavailable; nothing was served") from None


class AuditRecorder:
    """The audit trail as one request sees it: who is asking, from where, for what, and whether it is recorded."""

    def __init__(self, runtime: Runtime, request: Request, action: AuditAction, target: Target | None) -> None:
        self._runtime = runtime
        self._request = request
        self.action = action
        self._target = target
        self._patient: str | None = None
        self._details: dict[str, Any] = _context_details(request.path_params, target)
        self._pending = False

    @classmethod
    def for_request(cls, request: Request) -> AuditRecorder:
        existing = getattr(request.state, "audit_recorder", None)
        if isinstance(existing, AuditRecorder):
            return existing
        endpoint = request.scope.get("endpoint")
        action = audit_action_of(endpoint)
        if action is None:
            raise RuntimeError("the route records audit events but is not marked @audited")
        runtime: Runtime = request.app.state.runtime
        path_target: PathTarget = getattr(endpoint, _TARGET_ATTRIBUTE, uid_target)
        recorder = cls(runtime, request, action, path_target(request.path_params, runtime))
        request.state.audit_recorder = recorder
        return recorder

    # -- what the route knows ------------------------------------------------------------------------------------

    @property
    def recorded(self) -> bool:
        """Whether this request's event is committed."""
        return bool(getattr(self._request.state, "audit_recorded", False))

    def about(self, target: Target | None, *, patient: str | None = None) -> None:
        """Name the target (and whose data it is) when the path alone does not say it right."""
        self._target = target
        self._details = {}
        if patient is not None:
            self._patient = patient

    def _actor(self, actor: Actor | None) -> Actor:
        if actor is not None:
            return actor
        principal = getattr(self._request.state, "principal", None)
        return Actor.of(principal) if isinstance(principal, Principal) else ANONYMOUS

    def _guard_decision(self) -> Decision | None:
        decision = getattr(self._request.state, "access_decision", None)
        return decision if isinstance(decision, Decision) else None

    def _entry(
        self,
        *,
        decision: AuditDecision,
        status: int,
        outcome: str,
        reason: str,
        basis: str | None,
        details: Mapping[str, Any] | None,
        actor: Actor | None,
    ) -> AuditEntry:
        context = request_context(self._request)
        return AuditEntry(
            actor=self._actor(actor),
            action=self.action,
            decision=decision,
            reason=reason,
            status=status,
            outcome=outcome,
            basis=basis,
            target=self._target,
            patient=self._patient,
            client_address=context.client_address,
            user_agent=context.user_agent,
            request_id=context.request_id,
            details={**self._details, **(details or {})},
        )

    def _append(self, session: Session, entry: AuditEntry) -> None:
        if self._pending or self.recorded:
            raise RuntimeError("a request records exactly one audit event")
        try:
            event = append(session, entry)
            if event.seq % CHECKPOINT_INTERVAL == 0:
                sign_event(session, self._runtime.signing_key, event)
        except (SQLAlchemyError, ChainHeadMissing):
            logger.error("the audit event could not be written; refusing the request")
            raise AuditUnavailable("the audit trail is unavailable; nothing was served") from None
        self._pending = True

    def _mark_recorded(self) -> None:
        self._pending = False
        self._request.state.audit_recorded = True

    # -- recording -----------------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """A unit of work that must call ``allow`` and commits the access together with its event."""
        uow = self._runtime.units()
        try:
            try:
                yield uow
            except BaseException:
                uow.rollback()
                raise
            if not self._pending:
                uow.rollback()
                raise RuntimeError("the route's transaction ended without recording its access")
            try:
                uow.commit()
            except SQLAlchemyError:
                uow.rollback()
                logger.error("the transaction holding an audit event could not commit; refusing the request")
                raise AuditUnavailable("the audit trail is unavailable; nothing was served") from None
            self._mark_recorded()
        finally:
            self._pending = False
            uow.session.close()

    def allow(
        self,
        session: Session,
        *,
        access: StudyAccess | None = None,
        decision: Decision | None = None,
        status: int = 200,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Append the allowed access in ``session`` (inside ``transaction``), basis from the deciding rule.

        ``access`` is the authorized study (its decision and its person); otherwise ``decision`` or the route
        guard's decision gives the basis.
        """
        chosen = access.decision if access is not None else decision or self._guard_decision()
        if access is not None and self._patient is None:
            self._patient = _patient_of_study(session, study_id=access.study.id)
        entry = self._entry(
            decision=AuditDecision.ALLOW,
            status=status,
            outcome="ok",
            reason=chosen.reason if chosen else "allowed",
            basis=chosen.basis if chosen else None,
            details=details,
            actor=None,
        )
        self._append(session, entry)

    def record(
        self,
        *,
        decision: AuditDecision = AuditDecision.ALLOW,
        status: int = 200,
        outcome: str = "ok",
        reason: str | None = None,
        basis: str | None = None,
        study_uid: str | None = None,
        details: Mapping[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> None:
        """Record the event in a transaction of its own (blocking: call from a worker thread in async code)."""
        guard = self._guard_decision()
        if decision is AuditDecision.ALLOW:
            reason = reason or (guard.reason if guard else "allowed")
        uow = self._runtime.units()
        try:
            if study_uid is not None and self._patient is None:
                self._patient = _patient_of_study(uow.session, study_uid=study_uid)
            entry = self._entry(
                decision=decision,
                status=status,
                outcome=outcome,
                reason=reason or decision.value,
                basis=None if decision is AuditDecision.DENY else basis or (guard.basis if guard else None),
                details=details,
                actor=actor,
            )
            self._append(uow.session, entry)
            try:
                uow.commit()
            except SQLAlchemyError:
                logger.error("an audit event could not be committed; refusing the request")
                raise AuditUnavailable("the audit trail is unavailable; nothing was served") from None
            self._mark_recorded()
        except BaseException:
            uow.rollback()
            raise
        finally:
            self._pending = False
            uow.session.close()


def audit_recorder(request: Request) -> AuditRecorder:
    return AuditRecorder.for_request(request)


Audit = Annotated[AuditRecorder, Depends(audit_recorder)]


def _failure_details(request: Request, status: int) -> dict[str, Any]:
    if status == 401 and isinstance(failure := getattr(request.state, "token_failure", None), str):
        return {"token_failure": failure}
    return {}


async def record_failure(request: Request, status: int, code: str, reason: str) -> None:
    """Record a request that is answered with an error and has no event yet (called by the error handlers).

    Only audited routes are recorded, and only for a method they serve (a 405 is not an access). Raises
    ``AuditUnavailable`` when the event cannot be written; the handler then answers 503 instead.
    """
    endpoint = request.scope.get("endpoint")
    if audit_action_of(endpoint) is None:
        return
    route = request.scope.get("route")
    methods = getattr(route, "methods", None)
    if methods is not None and request.method not in methods:
        return
    recorder = AuditRecorder.for_request(request)
    if recorder.recorded:
        return
    decision = AuditDecision.DENY if status in DENIAL_STATUSES else AuditDecision.ERROR
    await run_in_threadpool(
        recorder.record,
        decision=decision,
        status=status,
        outcome=code,
        reason=reason,
        details=_failure_details(request, status),
    )
