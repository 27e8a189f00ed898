"""The access decision: a pure function from (principal, action, resource, facts, time) to allow or deny.

Deny by default. A denial also says whether the principal may learn that the resource exists:
``visible=False`` means the service answers 404 exactly as for a study that does not exist; ``visible=True``
and not allowed means 403. The service loads the ``AccessFacts`` (grants, one-time-code sessions, proxy links,
break-glass and staff-assisted sessions) that concern the principal, calls ``decide``, enforces the result and
records its ``basis`` on the audit event.

Bases (for a doctor, the most routine basis that loses nothing is recorded: a grant, then a one-time code —
both cover the whole study —, then own-institution if the institution uploaded all of the study, then
break-glass, then own-institution for the institution's part of a shared study):

=======================  ===================================================================================
``own-data``             a patient, on their own studies and their own consent
``proxy``                a family member acting for a person through an active link with the right needed
``own-upload``           a hospital system, on studies it uploaded (and upload itself: ``own-institution``)
``own-institution``      a doctor, on studies their institution uploaded, where the institution allows it
``grant:<id>``           a doctor covered by the person's standing grant (doctor or institution, in scope)
``one-time-code:<id>``   a doctor in the session a one-time code opened (in the code's scope)
``break-glass:<id>``     a doctor in an emergency session (all of one person's studies, time-boxed)
``staff-assisted:<id>``  service-desk staff serving the person in person (no images: list, codes, proxies)
``administrator``        an admin administering; ``auditor`` an auditor on the trail. Neither sees images.
``role``                 the role alone allows it: a doctor redeeming a code or breaking the glass, a clerk
                         starting an in-person session, a doctor or clerk running a (scope-filtered) search
=======================  ===================================================================================

Resources: ``StudyFacts`` for study actions (SEARCH about one study, RETRIEVE, READ_REPORT, UPLOAD_REPORT),
``PersonFacts`` for actions on a person's consent (MANAGE_GRANTS, ISSUE_CODE, MANAGE_PROXIES, VIEW_ACCESS_LOG,
and SEARCH meaning "list this person's studies"), ``None`` for actions about no one in particular. Passing the
wrong kind of resource is a programming error (``ValueError``), not a denial, so a wrong call cannot silently
turn into a 404.

``visible_scope`` gives the same visibility as data the service turns into a SQL filter; for every principal,
facts and study, ``visible_scope(p, f, now).admits(s) == decide(p, SEARCH, s, f, now).visible``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from auth.principals import Principal, Role


class Action(StrEnum):
    SEARCH = "search"
    RETRIEVE = "retrieve"
    UPLOAD = "upload"
    REGISTER_XREF = "register-xref"
    READ_REPORT = "read-report"
    UPLOAD_REPORT = "upload-report"
    ADMINISTER = "administer"
    READ_AUDIT = "read-audit"
    EXPORT_AUDIT = "export-audit"
    MANAGE_GRANTS = "manage-grants"
    ISSUE_CODE = "issue-code"
    MANAGE_PROXIES = "manage-proxies"
    VIEW_ACCESS_LOG = "view-access-log"
    REDEEM_CODE = "redeem-code"
    BREAK_GLASS = "break-glass"
    ASSIST_IN_PERSON = "assist-in-person"


STUDY_ACTIONS: frozenset[Action] = frozenset({Action.RETRIEVE, Action.READ_REPORT})
"""Always about one study."""
PERSON_ACTIONS: frozenset[Action] = frozenset(
    {Action.MANAGE_GRANTS, Action.ISSUE_CODE, Action.MANAGE_PROXIES, Action.VIEW_ACCESS_LOG}
)
"""Always about one person's consent."""
GLOBAL_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.UPLOAD,
        Action.REGISTER_XREF,
        Action.ADMINISTER,
        Action.READ_AUDIT,
        Action.EXPORT_AUDIT,
        Action.REDEEM_CODE,
        Action.BREAK_GLASS,
        Action.ASSIST_IN_PERSON,
    }
)
"""Never about a resource."""
AUDIT_ACTIONS: frozenset[Action] = frozenset({Action.READ_AUDIT, Action.EXPORT_AUDIT})
IMAGE_ACTIONS: frozenset[Action] = frozenset({Action.SEARCH, Action.RETRIEVE, Action.READ_REPORT})
"""Reading a person's clinical data (what grants, codes, break-glass and proxies with ``view`` allow)."""

OWN_DATA = "own-data"
PROXY = "proxy"
OWN_UPLOAD = "own-upload"
OWN_INSTITUTION = "own-institution"
ADMINISTRATOR = "administrator"
AUDITOR = "auditor"
CREDENTIALS = "role"

_ONLY_HOSPITALS = "only hospital systems upload or register patients"
_ONLY_AUDITORS = "only auditors read the audit trail"
NEVER_IMAGES_ADMIN = "administrators never read images or reports"
NEVER_IMAGES_AUDITOR = "auditors read the audit trail, never images or reports"


class ScopeKind(StrEnum):
    ALL = "all"
    STUDIES = "studies"
    MODALITY = "modality"
    DATE_RANGE = "date-range"


class ProxyRight(StrEnum):
    VIEW = "view"
    GRANT = "grant"
    ISSUE_CODES = "issue-codes"


@dataclass(frozen=True)
class StudyFacts:
    """What the policy needs to know about one study; the service loads it from the index.

    ``person_ref`` is the pseudonym of the person the study belongs to; ``uploaded_by`` the institution codes
    that uploaded any instance of it; ``modalities`` and ``study_date`` (``YYYYMMDD`` or empty) decide scopes.
    """

    study_uid: str
    person_ref: str
    uploaded_by: frozenset[str]
    modalities: frozenset[str] = frozenset()
    study_date: str = ""

    def __post_init__(self) -> None:
        if not self.study_uid or not self.person_ref:
            raise ValueError("study facts need a study UID and a person reference")


@dataclass(frozen=True)
class PersonFacts:
    """A person as the subject of a consent action (their grants, codes, proxies, access log, study list)."""

    person_ref: str

    def __post_init__(self) -> None:
        if not self.person_ref:
            raise ValueError("person facts need a person reference")


Resource = StudyFacts | PersonFacts | None


@dataclass(frozen=True)
class Scope:
    """Which of one person's studies a grant or a one-time code covers. Dates are ``YYYYMMDD``, inclusive."""

    kind: ScopeKind = ScopeKind.ALL
    study_uids: frozenset[str] = frozenset()
    modality: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def __post_init__(self) -> None:
        # A field the kind ignores would be a restriction the patient chose and the policy silently dropped.
        if self.study_uids and self.kind is not ScopeKind.STUDIES:
            raise ValueError("only a studies scope lists studies")
        if self.modality is not None and self.kind is not ScopeKind.MODALITY:
            raise ValueError("only a modality scope names a modality")
        if (self.date_from is not None or self.date_to is not None) and self.kind is not ScopeKind.DATE_RANGE:
            raise ValueError("only a date-range scope has dates")
        if self.kind is ScopeKind.STUDIES and not self.study_uids:
            raise ValueError("a studies scope lists at least one study")
        if self.kind is ScopeKind.MODALITY and not self.modality:
            raise ValueError("a modality scope names the modality")
        if self.kind is ScopeKind.DATE_RANGE:
            if not (self.date_from or self.date_to):
                raise ValueError("a date-range scope needs a start or an end")
            for value in (self.date_from, self.date_to):
                if value is not None and not (len(value) == 8 and value.isdigit()):
                    raise ValueError("scope dates are YYYYMMDD")
            if self.date_from and self.date_to and self.date_from > self.date_to:
                raise ValueError("a date-range scope ends before it starts")

    def admits(self, study: StudyFacts) -> bool:
        if self.kind is ScopeKind.ALL:
            return True
        if self.kind is ScopeKind.STUDIES:
            return study.study_uid in self.study_uids
        if self.kind is ScopeKind.MODALITY:
            return self.modality in study.modalities
        # A study without a date is outside every date range: the range cannot vouch for it.
        if not study.study_date:
            return False
        return (self.date_from or "00000000") <= study.study_date <= (self.date_to or "99999999")


ALL_STUDIES = Scope()


def _active(expires_at: dt.datetime, ended_at: dt.datetime | None, now: dt.datetime) -> bool:
    return ended_at is None and now < expires_at


@dataclass(frozen=True)
class GrantFact:
    """A standing grant by ``person_ref`` to one doctor (``grantee_subject``) or a whole institution."""

    id: int
    person_ref: str
    scope: Scope
    expires_at: dt.datetime
    grantee_subject: str | None = None
    grantee_institution: str | None = None
    revoked_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if (self.grantee_subject is None) == (self.grantee_institution is None):
            raise ValueError("a grant names exactly one grantee: a doctor or an institution")

    def covers(self, principal: Principal, now: dt.datetime) -> bool:
        if not _active(self.expires_at, self.revoked_at, now):
            return False
        if self.grantee_subject is not None:
            return self.grantee_subject == principal.subject
        return self.grantee_institution == principal.institution


@dataclass(frozen=True)
class CodeSessionFact:
    """The session a doctor opened with a person's one-time code."""

    id: int
    person_ref: str
    doctor_subject: str
    scope: Scope
    expires_at: dt.datetime
    revoked_at: dt.datetime | None = None

    def covers(self, principal: Principal, now: dt.datetime) -> bool:
        return self.doctor_subject == principal.subject and _active(self.expires_at, self.revoked_at, now)


@dataclass(frozen=True)
class BreakGlassFact:
    id: int
    person_ref: str
    doctor_subject: str
    expires_at: dt.datetime
    ended_at: dt.datetime | None = None

    def covers(self, principal: Principal, now: dt.datetime) -> bool:
        return self.doctor_subject == principal.subject and _active(self.expires_at, self.ended_at, now)


@dataclass(frozen=True)
class ProxyFact:
    """``proxy_person_ref`` may act for ``person_ref`` with ``rights`` until the link is removed."""

    id: int
    person_ref: str
    proxy_person_ref: str
    rights: frozenset[ProxyRight]
    removed_at: dt.datetime | None = None

    def lets(self, principal: Principal, right: ProxyRight, now: dt.datetime) -> bool:
        return (
            principal.role is Role.PROXY
            and self.proxy_person_ref == principal.person_ref
            and self.person_ref == principal.acting_for
            and right in self.rights
            and (self.removed_at is None or now < self.removed_at)
        )


@dataclass(frozen=True)
class StaffSessionFact:
    """A service-desk clerk serving ``person_ref`` in person after an attested ID check."""

    id: int
    person_ref: str
    staff_subject: str
    institution: str
    expires_at: dt.datetime
    ended_at: dt.datetime | None = None

    def covers(self, principal: Principal, now: dt.datetime) -> bool:
        return (
            self.staff_subject == principal.subject
            and self.institution == principal.institution
            and _active(self.expires_at, self.ended_at, now)
        )


@dataclass(frozen=True)
class AccessFacts:
    """Everything beyond the token that can allow access. Facts about other principals are simply ignored."""

    grants: tuple[GrantFact, ...] = ()
    code_sessions: tuple[CodeSessionFact, ...] = ()
    break_glass: tuple[BreakGlassFact, ...] = ()
    proxies: tuple[ProxyFact, ...] = ()
    staff_sessions: tuple[StaffSessionFact, ...] = ()
    own_institution_access: bool = False
    """Whether the principal's institution lets its doctors see its own uploads without a grant."""


NO_FACTS = AccessFacts()


@dataclass(frozen=True)
class Decision:
    """The outcome: ``basis`` says why access is allowed (recorded on the audit event); ``reason`` explains.

    The ``reason`` of a visible denial may be shown to the caller (403); of an invisible one only to the audit
    trail.
    """

    allowed: bool
    reason: str
    basis: str | None
    visible: bool

    def __post_init__(self) -> None:
        if not self.reason:
            raise ValueError("a decision needs a reason")
        if self.allowed and (self.basis is None or not self.visible):
            raise ValueError("an allowed decision needs a basis and is visible")
        if not self.allowed and self.basis is not None:
            raise ValueError("a denial has no basis")

    @classmethod
    def allow(cls, basis: str, reason: str) -> Decision:
        return cls(allowed=True, reason=reason, basis=basis, visible=True)

    @classmethod
    def deny(cls, reason: str, *, visible: bool) -> Decision:
        return cls(allowed=False, reason=reason, basis=None, visible=visible)


@dataclass(frozen=True)
class PersonScope:
    """Studies of one person, narrowed by ``scope``."""

    person_ref: str
    scope: Scope


@dataclass(frozen=True)
class VisibleScope:
    """The studies a principal may see, as data a SQL filter is built from.

    A study is visible iff at least one field admits it; every field only widens, so a filter that ignores a
    field it does not know errs towards showing less. An empty scope admits nothing. There is deliberately no
    "everything" value: no role sees every study.

    ``uploaded_by_any_of``: studies with an instance uploaded by one of these institutions. The service
    narrows a study seen only this way to those institutions' instances (hospitals and doctors under
    ``own-institution`` see back what their institution uploaded, not what another hospital added).
    ``persons``: studies of these persons, each within its scope.
    """

    uploaded_by_any_of: frozenset[str] = frozenset()
    persons: frozenset[PersonScope] = field(default_factory=frozenset)

    @property
    def is_empty(self) -> bool:
        return not self.uploaded_by_any_of and not self.persons

    def admits_whole_study(self, study: StudyFacts) -> bool:
        """Whether a person scope admits the study (all its instances, not only an institution's)."""
        return any(p.person_ref == study.person_ref and p.scope.admits(study) for p in self.persons)

    def admits(self, study: StudyFacts) -> bool:
        """Reference semantics of the SQL filter (for tests and one-study checks, never to filter lists)."""
        return not self.uploaded_by_any_of.isdisjoint(study.uploaded_by) or self.admits_whole_study(study)


EMPTY_SCOPE = VisibleScope()


# -- what each role can reach --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Basis:
    name: str
    reason: str
    scope: Scope
    person_ref: str


def _doctor_bases(principal: Principal, facts: AccessFacts, now: dt.datetime) -> Iterable[_Basis]:
    """Person-wide bases of a doctor, narrowest kind first (grants, then codes, then break-glass)."""
    for grant in facts.grants:
        if grant.covers(principal, now):
            yield _Basis(f"grant:{grant.id}", "the patient granted access", grant.scope, grant.person_ref)
    for session in facts.code_sessions:
        if session.covers(principal, now):
            yield _Basis(
                f"one-time-code:{session.id}", "the patient's one-time code", session.scope, session.person_ref
            )
    for glass in facts.break_glass:
        if glass.covers(principal, now):
            yield _Basis(f"break-glass:{glass.id}", "emergency break-glass access", ALL_STUDIES, glass.person_ref)


def _proxy_view(principal: Principal, facts: AccessFacts, now: dt.datetime) -> Iterable[_Basis]:
    for link in facts.proxies:
        if link.lets(principal, ProxyRight.VIEW, now):
            yield _Basis(PROXY, "acting for a family member with the right to view", ALL_STUDIES, link.person_ref)


def _staff_bases(principal: Principal, facts: AccessFacts, now: dt.datetime) -> Iterable[_Basis]:
    for session in facts.staff_sessions:
        if session.covers(principal, now):
            yield _Basis(
                f"staff-assisted:{session.id}", "serving the person in person", ALL_STUDIES, session.person_ref
            )


def visible_scope(principal: Principal, facts: AccessFacts, now: dt.datetime) -> VisibleScope:
    """What ``principal`` may see in searches and lists, given ``facts`` at ``now``."""
    _check_now(now)
    role = principal.role
    if role is Role.HOSPITAL and principal.institution:
        return VisibleScope(uploaded_by_any_of=frozenset({principal.institution}))
    if role is Role.PATIENT and principal.person_ref:
        return VisibleScope(persons=frozenset({PersonScope(principal.person_ref, ALL_STUDIES)}))
    bases: Iterable[_Basis] = ()
    uploaded: frozenset[str] = frozenset()
    if role is Role.PROXY:
        bases = _proxy_view(principal, facts, now)
    elif role is Role.DOCTOR:
        bases = _doctor_bases(principal, facts, now)
        if facts.own_institution_access and principal.institution:
            uploaded = frozenset({principal.institution})
    elif role is Role.SERVICE_DESK:
        bases = _staff_bases(principal, facts, now)
    return VisibleScope(
        uploaded_by_any_of=uploaded, persons=frozenset(PersonScope(b.person_ref, b.scope) for b in bases)
    )


# -- the decision ----------------------------------------------------------------------------------------------


def _check_now(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")


def _check_arguments(action: Action, resource: Resource, now: dt.datetime) -> None:
    _check_now(now)
    if action in STUDY_ACTIONS and not isinstance(resource, StudyFacts):
        raise ValueError(f"{action} is decided for one study; pass its facts")
    if action in PERSON_ACTIONS and not isinstance(resource, PersonFacts):
        raise ValueError(f"{action} is decided for one person; pass PersonFacts")
    if action in GLOBAL_ACTIONS and resource is not None:
        raise ValueError(f"{action} is not about a study or a person; pass None")
    if action is Action.UPLOAD_REPORT and isinstance(resource, PersonFacts):
        raise ValueError("upload-report is about a study or none")


def _role_only(principal: Principal, action: Action) -> Decision:
    """Actions about no resource: which role may do them at all."""
    rules: dict[Action, tuple[Role, str, str]] = {
        Action.UPLOAD: (Role.HOSPITAL, "hospital systems upload for their own institution", _ONLY_HOSPITALS),
        Action.REGISTER_XREF: (Role.HOSPITAL, "hospital systems register their patients", _ONLY_HOSPITALS),
        Action.UPLOAD_REPORT: (Role.HOSPITAL, "hospital systems upload reports", _ONLY_HOSPITALS),
        Action.ADMINISTER: (
            Role.ADMIN,
            "administrators administer the service",
            "only administrators administer the service",
        ),
        Action.READ_AUDIT: (Role.AUDITOR, "auditors read the audit trail", _ONLY_AUDITORS),
        Action.EXPORT_AUDIT: (Role.AUDITOR, "auditors export the audit trail", _ONLY_AUDITORS),
        Action.REDEEM_CODE: (
            Role.DOCTOR,
            "doctors redeem the codes patients show them",
            "only doctors redeem one-time codes",
        ),
        Action.BREAK_GLASS: (
            Role.DOCTOR,
            "doctors may open an audited emergency session",
            "only doctors may break the glass",
        ),
        Action.ASSIST_IN_PERSON: (
            Role.SERVICE_DESK,
            "service-desk staff serve people in person",
            "only service-desk staff serve people in person",
        ),
    }
    role, reason, refusal = rules[action]
    if principal.role is not role:
        return Decision.deny(refusal, visible=True)
    if role is Role.HOSPITAL:
        return Decision.allow(OWN_INSTITUTION, reason)
    if role is Role.ADMIN:
        return Decision.allow(ADMINISTRATOR, reason)
    if role is Role.AUDITOR:
        return Decision.allow(AUDITOR, reason)
    return Decision.allow(CREDENTIALS, reason)


def _search_without_resource(principal: Principal) -> Decision:
    """May the principal run searches at all (results are then filtered by ``visible_scope``)."""
    if principal.role is Role.ADMIN:
        return Decision.deny(NEVER_IMAGES_ADMIN, visible=True)
    if principal.role is Role.AUDITOR:
        return Decision.deny(NEVER_IMAGES_AUDITOR, visible=True)
    basis = {
        Role.HOSPITAL: OWN_UPLOAD,
        Role.PATIENT: OWN_DATA,
        Role.PROXY: PROXY,
    }.get(principal.role, CREDENTIALS)
    return Decision.allow(basis, "results are limited to what this principal may see")


_PROXY_RIGHT_FOR: dict[Action, ProxyRight] = {
    Action.SEARCH: ProxyRight.VIEW,
    Action.VIEW_ACCESS_LOG: ProxyRight.VIEW,
    Action.MANAGE_GRANTS: ProxyRight.GRANT,
    Action.ISSUE_CODE: ProxyRight.ISSUE_CODES,
}


def _person_action(
    principal: Principal, action: Action, person: PersonFacts, facts: AccessFacts, now: dt.datetime
) -> Decision:
    """Consent actions and "list this person's studies"."""
    role = principal.role
    if role is Role.PATIENT:
        if principal.person_ref == person.person_ref:
            return Decision.allow(OWN_DATA, "a person manages their own data")
        return Decision.deny("not this patient's data", visible=False)
    if role is Role.PROXY:
        links = [link for link in facts.proxies if link.person_ref == person.person_ref]
        right = _PROXY_RIGHT_FOR.get(action)
        if right is not None and any(link.lets(principal, right, now) for link in links):
            return Decision.allow(PROXY, f"acting for a family member with the right to {right}")
        if any(link.lets(principal, some, now) for link in links for some in ProxyRight):
            return Decision.deny(f"the family link does not include the right to {action}", visible=True)
        return Decision.deny("no active family link to this person", visible=False)
    if role is Role.SERVICE_DESK:
        for basis in _staff_bases(principal, facts, now):
            if basis.person_ref == person.person_ref:
                if action in (Action.SEARCH, Action.ISSUE_CODE, Action.MANAGE_PROXIES):
                    return Decision.allow(basis.name, "serving the person in person after an ID check")
                return Decision.deny("service-desk staff cannot do this for the person", visible=True)
        return Decision.deny("no in-person session with this person", visible=False)
    if role is Role.DOCTOR:
        for basis in _doctor_bases(principal, facts, now):
            if basis.person_ref == person.person_ref:
                if action is Action.SEARCH:
                    return Decision.allow(basis.name, basis.reason)
                return Decision.deny("doctors do not manage a person's consent", visible=True)
        return Decision.deny("no grant, code or emergency session for this person", visible=False)
    if role in (Role.ADMIN, Role.AUDITOR, Role.HOSPITAL, Role.DOCTOR):
        return Decision.deny(f"a {role} principal cannot {action} for a person", visible=False)
    return Decision.deny("no rule allows this action", visible=False)  # pragma: no cover (every role above)


def _study_action(
    principal: Principal, action: Action, study: StudyFacts, facts: AccessFacts, now: dt.datetime
) -> Decision:
    role = principal.role
    if role is Role.ADMIN:
        return Decision.deny(NEVER_IMAGES_ADMIN, visible=False)
    if role is Role.AUDITOR:
        return Decision.deny(NEVER_IMAGES_AUDITOR, visible=False)
    if role is Role.HOSPITAL:
        if principal.institution in study.uploaded_by:
            return Decision.allow(OWN_UPLOAD, "study uploaded by this institution")
        return Decision.deny("study not uploaded by this institution", visible=False)
    if action is Action.UPLOAD_REPORT:
        visible = visible_scope(principal, facts, now).admits(study)
        return Decision.deny("only hospital systems upload reports", visible=visible)
    if role is Role.PATIENT:
        if principal.person_ref == study.person_ref:
            return Decision.allow(OWN_DATA, "the patient's own study")
        return Decision.deny("not this patient's study", visible=False)
    if role is Role.PROXY:
        for basis in _proxy_view(principal, facts, now):
            if basis.person_ref == study.person_ref:
                return Decision.allow(basis.name, basis.reason)
        return Decision.deny("no active family link with the right to view this person's studies", visible=False)
    if role is Role.DOCTOR:
        own = facts.own_institution_access and principal.institution in study.uploaded_by
        entirely_own = own and study.uploaded_by <= {principal.institution}
        covering = [
            b
            for b in _doctor_bases(principal, facts, now)
            if b.person_ref == study.person_ref and b.scope.admits(study)
        ]
        # The most routine basis that loses nothing: the patient's consent (grant, code) covers the whole study;
        # own-institution covers only the institution's own instances, so it comes first only when those are all
        # of them; break-glass, the emergency last resort, only when nothing else covers the whole study.
        for basis in covering:
            if not basis.name.startswith("break-glass:"):
                return Decision.allow(basis.name, basis.reason)
        if entirely_own:
            return Decision.allow(OWN_INSTITUTION, "study uploaded by the doctor's own institution")
        if covering:
            return Decision.allow(covering[0].name, covering[0].reason)
        if own:
            return Decision.allow(OWN_INSTITUTION, "study partly uploaded by the doctor's own institution")
        return Decision.deny(
            "no grant, one-time code, own-institution rule or break-glass covers this study", visible=False
        )
    if role is Role.SERVICE_DESK:
        for basis in _staff_bases(principal, facts, now):
            if basis.person_ref == study.person_ref:
                if action is Action.SEARCH:
                    return Decision.allow(basis.name, "showing the person their study list in person")
                return Decision.deny("service-desk staff show study lists, never images or reports", visible=True)
        return Decision.deny("no in-person session with this study's person", visible=False)
    return Decision.deny("no rule allows this action", visible=False)  # pragma: no cover (every role above)


def decide(principal: Principal, action: Action, resource: Resource, facts: AccessFacts, now: dt.datetime) -> Decision:
    """Whether ``principal`` may perform ``action`` on ``resource`` given ``facts`` at ``now``."""
    _check_arguments(action, resource, now)
    if resource is None:
        if action is Action.SEARCH:
            return _search_without_resource(principal)
        return _role_only(principal, action)
    if isinstance(resource, PersonFacts):
        return _person_action(principal, action, resource, facts, now)
    return _study_action(principal, action, resource, facts, now)
