"""The access decision: a pure function from (principal, action, study facts, time) to allow or deny.

Deny by default. A denial also says whether the principal may learn that the study exists:
``visible=False`` means the service answers 404 exactly as for a study that does not exist; ``visible=True``
and not allowed means 403. Rules in force (the foundation; grants, one-time codes, proxies, break-glass and
own-data arrive as further facts and bases, see DESIGN §6):

============  ===============================================  ==========================================
role          allowed                                          everything else
============  ===============================================  ==========================================
hospital      UPLOAD, REGISTER_XREF, UPLOAD_REPORT for itself  other institutions' studies: not visible
              (basis ``own-institution``); SEARCH, RETRIEVE,   ADMINISTER: 403
              READ_REPORT, UPLOAD_REPORT on studies it
              uploaded (basis ``own-upload``)
admin         ADMINISTER (basis ``administrator``)             any study: not visible (administrators
                                                               never read images, nor learn which
                                                               studies exist); other actions: 403
auditor       READ_AUDIT, EXPORT_AUDIT (basis ``auditor``)     any study: not visible; others: 403
doctor,       nothing yet                                      any study: not visible; others: 403
patient,
proxy,
service-desk
============  ===============================================  ==========================================

READ_AUDIT and EXPORT_AUDIT are denied with 403 to every role but ``auditor`` (the audit trail exists for
everyone; only auditors read it).

Which actions take a study: RETRIEVE and READ_REPORT always; SEARCH and UPLOAD_REPORT optionally (``None``
asks "may this principal search / upload reports at all", a study asks about that study); UPLOAD,
REGISTER_XREF, ADMINISTER, READ_AUDIT and EXPORT_AUDIT never. Passing a study where none belongs, or none
where one is required, is a programming error (``ValueError``), not a denial, so a wrong call cannot silently
turn into a 404.

``visible_scope`` gives the same visibility as a set the service can turn into a SQL filter; for every
principal and study, ``visible_scope(p).admits(s) == decide(p, Action.SEARCH, s, now).visible``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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


STUDY_REQUIRED: frozenset[Action] = frozenset({Action.RETRIEVE, Action.READ_REPORT})
STUDY_OPTIONAL: frozenset[Action] = frozenset({Action.SEARCH, Action.UPLOAD_REPORT})
STUDY_FORBIDDEN: frozenset[Action] = frozenset(
    {Action.UPLOAD, Action.REGISTER_XREF, Action.ADMINISTER, Action.READ_AUDIT, Action.EXPORT_AUDIT}
)
AUDIT_ACTIONS: frozenset[Action] = frozenset({Action.READ_AUDIT, Action.EXPORT_AUDIT})

OWN_UPLOAD = "own-upload"
OWN_INSTITUTION = "own-institution"
ADMINISTRATOR = "administrator"
AUDITOR = "auditor"

NEVER_IMAGES_ADMIN = "administrators never read images or reports"
NEVER_IMAGES_AUDITOR = "auditors read the audit trail, never images or reports"
_NO_BASIS_YET: dict[Role, str] = {
    Role.DOCTOR: "no grant, one-time code, own-institution rule or break-glass session covers this study",
    Role.PATIENT: "patient access to own studies is not enabled yet",
    Role.PROXY: "no delegation covers this study",
    Role.SERVICE_DESK: "service-desk staff act only through an attested in-person session, not enabled yet",
}


@dataclass(frozen=True)
class StudyFacts:
    """What the policy needs to know about one study; the service loads it from the index.

    ``person_ref`` is the pseudonymous person the study belongs to (for own-data, grants and proxies);
    ``uploaded_by`` the institution codes that uploaded any instance of it. Future facts (modality, study date
    for grant scopes) are added as fields with defaults.
    """

    study_uid: str
    person_ref: str
    uploaded_by: frozenset[str]

    def __post_init__(self) -> None:
        if not self.study_uid or not self.person_ref:
            raise ValueError("study facts need a study UID and a person reference")


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
class VisibleScope:
    """The studies a principal may see, as data a SQL filter is built from.

    A study is visible iff at least one field admits it; every field only widens, so a filter that ignores a
    field it does not know errs towards showing less. An empty scope admits nothing. There is deliberately no
    "everything" value: no role sees every study.

    ``uploaded_by_any_of``: a study is visible if any of its instances was uploaded by one of these
    institution codes. (A hospital then sees back only its own instances of a shared study: that narrowing is
    the service's.)
    """

    uploaded_by_any_of: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not self.uploaded_by_any_of

    def admits(self, study: StudyFacts) -> bool:
        """Reference semantics of the SQL filter (for tests and one-study checks, never to filter lists)."""
        return not self.uploaded_by_any_of.isdisjoint(study.uploaded_by)


EMPTY_SCOPE = VisibleScope()


def visible_scope(principal: Principal) -> VisibleScope:
    """What ``principal`` may see in searches and lists; empty for every role except hospitals (for now)."""
    if principal.role is Role.HOSPITAL and principal.institution:
        return VisibleScope(uploaded_by_any_of=frozenset({principal.institution}))
    return EMPTY_SCOPE


def _check_arguments(action: Action, study: StudyFacts | None, now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if action in STUDY_REQUIRED and study is None:
        raise ValueError(f"{action} is decided for one study; pass its facts")
    if action in STUDY_FORBIDDEN and study is not None:
        raise ValueError(f"{action} is not about a study; pass None")


def _hospital(principal: Principal, action: Action, study: StudyFacts | None) -> Decision:
    if action is Action.ADMINISTER:
        return Decision.deny("hospital systems cannot administer the service", visible=True)
    if study is None:  # UPLOAD, REGISTER_XREF, or SEARCH / UPLOAD_REPORT not yet about one study
        basis = OWN_UPLOAD if action is Action.SEARCH else OWN_INSTITUTION
        return Decision.allow(basis, f"hospital may {action} for its own institution")
    if visible_scope(principal).admits(study):
        return Decision.allow(OWN_UPLOAD, "study uploaded by this institution")
    return Decision.deny("study not uploaded by this institution", visible=False)


def _admin(action: Action, study: StudyFacts | None) -> Decision:
    if action is Action.ADMINISTER:
        return Decision.allow(ADMINISTRATOR, "administrators administer the service")
    if action in (Action.UPLOAD, Action.REGISTER_XREF, Action.UPLOAD_REPORT) and study is None:
        return Decision.deny("only hospital systems upload or register patients", visible=True)
    return Decision.deny(NEVER_IMAGES_ADMIN, visible=study is None)


def decide(principal: Principal, action: Action, study: StudyFacts | None, now: dt.datetime) -> Decision:
    """Whether ``principal`` may perform ``action`` (on ``study``) at ``now``; see the module table."""
    _check_arguments(action, study, now)
    if action in AUDIT_ACTIONS:
        if principal.role is Role.AUDITOR:
            return Decision.allow(AUDITOR, "auditors read and export the audit trail")
        return Decision.deny("only auditors read the audit trail", visible=True)
    if principal.role is Role.HOSPITAL:
        return _hospital(principal, action, study)
    if principal.role is Role.ADMIN:
        return _admin(action, study)
    if principal.role is Role.AUDITOR:
        return Decision.deny(NEVER_IMAGES_AUDITOR, visible=study is None)
    if action in (Action.UPLOAD, Action.REGISTER_XREF, Action.UPLOAD_REPORT) and study is None:
        return Decision.deny("only hospital systems upload or register patients", visible=True)
    if action is Action.ADMINISTER:
        return Decision.deny("only administrators administer the service", visible=True)
    reason = _NO_BASIS_YET.get(principal.role, "no rule allows this action")
    return Decision.deny(reason, visible=study is None)
