"""Properties of the policy over random principals, facts and resources (the table proves the named cases).

The pools are tiny on purpose: with three persons, three institutions and a few subjects, random facts keep
hitting the principal, the study's person and the study's uploaders, so coincidences the table does not name
(a grant that also matches an institution, two links for one person, a clerk at the wrong desk) come up often.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import replace

from hypothesis import example, given, settings
from hypothesis import strategies as st

from auth.policy import (
    OWN_INSTITUTION,
    OWN_UPLOAD,
    AccessFacts,
    Action,
    BreakGlassFact,
    CodeSessionFact,
    GrantFact,
    PersonFacts,
    ProxyFact,
    ProxyRight,
    Resource,
    Scope,
    ScopeKind,
    StaffSessionFact,
    StudyFacts,
    decide,
    visible_scope,
)
from auth.principals import INSTITUTION_ROLES, Principal, Role
from tests.auth.test_policy import ALLOWED_PAIRS, GLOBAL_COLUMNS, PERSON_COLUMNS, STUDY_COLUMNS

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
PERSONS = ("pA", "pB", "pC")
INSTITUTIONS = ("H1", "H2")
SUBJECTS = ("account:1", "account:2")
STUDY_UIDS = ("2.25.1", "2.25.2", "2.25.3")
MODALITIES = ("CT", "MR", "US")
DATES = ("", "20190101", "20240115", "20251231")
OFFSETS = tuple(dt.timedelta(seconds=s) for s in (-7200, -1, 0, 1, 7200))
STUDY_ACTIONS = (Action.SEARCH, Action.RETRIEVE, Action.READ_REPORT, Action.UPLOAD_REPORT)

PROPERTY = settings(max_examples=75, deadline=None, database=None)

# Every value is drawn from a pool built once: a draw is one index, so a hundred examples cost milliseconds.
EXPIRIES = tuple(NOW + offset for offset in OFFSETS)
TIMES: tuple[dt.datetime | None, ...] = (None, *EXPIRIES)
SCOPES = (
    Scope(),
    Scope(ScopeKind.STUDIES, study_uids=frozenset(STUDY_UIDS[:1])),
    Scope(ScopeKind.STUDIES, study_uids=frozenset(STUDY_UIDS[:2])),
    Scope(ScopeKind.MODALITY, modality="CT"),
    Scope(ScopeKind.MODALITY, modality="MR"),
    Scope(ScopeKind.DATE_RANGE, date_from="20190101", date_to="20240115"),
    Scope(ScopeKind.DATE_RANGE, date_from="20240101"),
    Scope(ScopeKind.DATE_RANGE, date_to="20201231"),
)
IDS = (1, 2, 3)
RIGHTS = tuple(
    frozenset(r for r, on in zip(ProxyRight, bits, strict=True) if on)
    for bits in itertools.product((False, True), repeat=3)
)
GRANTEES = tuple((subject, None) for subject in SUBJECTS) + tuple((None, inst) for inst in INSTITUTIONS)

GRANT_POOL = [
    GrantFact(i, p, scope, expires, grantee[0], grantee[1], revoked)
    for i, p, scope, expires, grantee, revoked in itertools.product(IDS, PERSONS, SCOPES, EXPIRIES, GRANTEES, TIMES)
]
CODE_POOL = [CodeSessionFact(*values) for values in itertools.product(IDS, PERSONS, SUBJECTS, SCOPES, EXPIRIES, TIMES)]
GLASS_POOL = [BreakGlassFact(*values) for values in itertools.product(IDS, PERSONS, SUBJECTS, EXPIRIES, TIMES)]
PROXY_POOL = [ProxyFact(*values) for values in itertools.product(IDS, PERSONS, PERSONS, RIGHTS, TIMES)]
STAFF_POOL = [
    StaffSessionFact(*values) for values in itertools.product(IDS, PERSONS, SUBJECTS, INSTITUTIONS, EXPIRIES, TIMES)
]
STUDY_POOL = [
    StudyFacts(uid, p, frozenset(uploaders), frozenset(modalities), date)
    for uid, p, uploaders, modalities, date in itertools.product(
        STUDY_UIDS,
        PERSONS,
        ((), ("H1",), ("H2",), ("H1", "H2")),
        ((), ("CT",), ("MR",), ("CT", "MR")),
        DATES,
    )
]
PRINCIPAL_POOL = [
    *(
        Principal(subject, role, inst, "jti")
        for role in INSTITUTION_ROLES
        for subject, inst in itertools.product(SUBJECTS, INSTITUTIONS)
    ),
    *(
        Principal(subject, Role.PATIENT, None, "jti", person_ref=p)
        for subject, p in itertools.product(SUBJECTS, PERSONS)
    ),
    *(
        Principal(subject, Role.PROXY, None, "jti", person_ref=p, acting_for=q)
        for subject, p, q in itertools.product(SUBJECTS, PERSONS, PERSONS)
        if p != q
    ),
    *(Principal(subject, role, None, "jti") for role in (Role.AUDITOR, Role.ADMIN) for subject in SUBJECTS),
]


def facts_of(*, glass_min: int = 0) -> st.SearchStrategy[AccessFacts]:
    return st.builds(
        AccessFacts,
        grants=st.lists(st.sampled_from(GRANT_POOL), max_size=2).map(tuple),
        code_sessions=st.lists(st.sampled_from(CODE_POOL), max_size=2).map(tuple),
        break_glass=st.lists(st.sampled_from(GLASS_POOL), min_size=glass_min, max_size=2).map(tuple),
        proxies=st.lists(st.sampled_from(PROXY_POOL), max_size=3).map(tuple),
        staff_sessions=st.lists(st.sampled_from(STAFF_POOL), max_size=2).map(tuple),
        own_institution_access=st.booleans(),
    )


principals = st.sampled_from(PRINCIPAL_POOL)
facts_strategy = facts_of()
studies = st.sampled_from(STUDY_POOL)
persons = st.sampled_from(PERSONS)


@st.composite
def calls(draw: st.DrawFn) -> tuple[Action, Resource]:
    """An action with a resource of a kind it takes."""
    action = draw(st.sampled_from(list(Action)))
    kinds: list[st.SearchStrategy[Resource]] = []
    if action in GLOBAL_COLUMNS:
        kinds.append(st.none())
    if action in STUDY_COLUMNS:
        kinds.append(studies)
    if action in PERSON_COLUMNS:
        kinds.append(persons.map(PersonFacts))
    return action, draw(st.one_of(kinds))


@PROPERTY
@given(principal=principals, facts=facts_strategy, study=studies)
def test_visible_scope_admits_exactly_the_studies_decide_makes_visible(
    principal: Principal, facts: AccessFacts, study: StudyFacts
) -> None:
    """The SQL filter and the one-study decision agree, for every study action (one 404/403 line for all)."""
    admitted = visible_scope(principal, facts, NOW).admits(study)
    assert admitted == decide(principal, Action.SEARCH, study, facts, NOW).visible
    for action in STUDY_ACTIONS:
        assert decide(principal, action, study, facts, NOW).visible == admitted, action


BASIS = re.compile(
    r"own-data|proxy|own-upload|own-institution|administrator|auditor|role"
    r"|(?P<kind>grant|one-time-code|break-glass|staff-assisted):(?P<id>\d+)"
)


def _justified(principal: Principal, resource: Resource, facts: AccessFacts, basis: str) -> bool:
    """Whether an active fact (or the principal itself) justifies ``basis`` for ``resource``."""
    match = BASIS.fullmatch(basis)
    assert match is not None, basis
    person = resource.person_ref if resource is not None else None
    study = resource if isinstance(resource, StudyFacts) else None
    uploaders = study.uploaded_by if study else frozenset()
    kind, number = match["kind"], int(match["id"] or 0)
    consent: list[GrantFact | CodeSessionFact] = [
        *(g for g in facts.grants if kind == "grant"),
        *(c for c in facts.code_sessions if kind == "one-time-code"),
    ]
    if consent:
        return any(
            f.id == number
            and f.covers(principal, NOW)
            and f.person_ref == person
            and (study is None or f.scope.admits(study))
            for f in consent
        )
    sessions: list[BreakGlassFact | StaffSessionFact] = [
        *(b for b in facts.break_glass if kind == "break-glass"),
        *(s for s in facts.staff_sessions if kind == "staff-assisted"),
    ]
    if kind:
        return any(f.id == number and f.covers(principal, NOW) and f.person_ref == person for f in sessions)
    if basis == "own-data":
        return principal.role is Role.PATIENT and person in (None, principal.person_ref)
    if basis == "proxy":
        return principal.role is Role.PROXY and (
            resource is None
            or any(
                link.person_ref == person and link.lets(principal, r, NOW) for link in facts.proxies for r in ProxyRight
            )
        )
    if basis == OWN_UPLOAD:
        return principal.role is Role.HOSPITAL and (resource is None or principal.institution in uploaders)
    if basis == OWN_INSTITUTION and principal.role is Role.HOSPITAL:
        return resource is None
    if basis == OWN_INSTITUTION:
        return principal.role is Role.DOCTOR and facts.own_institution_access and principal.institution in uploaders
    return resource is None  # administrator, auditor, role: only for actions about no one in particular


@PROPERTY
@given(principal=principals, facts=facts_strategy, call=calls())
def test_denied_by_default_and_every_allow_rests_on_an_active_fact_about_that_resource(
    principal: Principal, facts: AccessFacts, call: tuple[Action, Resource]
) -> None:
    """No (role, action) pair outside the design's list is ever allowed; every allow names a basis that holds."""
    action, resource = call
    decision = decide(principal, action, resource, facts, NOW)
    if not decision.allowed:
        return
    assert (principal.role, action) in ALLOWED_PAIRS
    assert decision.basis is not None
    assert _justified(principal, resource, facts, decision.basis), decision


@PROPERTY
@given(
    principal=principals,
    facts=facts_strategy,
    call=calls(),
    keep=st.lists(st.booleans(), min_size=12, max_size=12),
    later=st.sampled_from(OFFSETS[3:]),
)
def test_revoking_anything_or_letting_time_pass_never_allows_more(
    principal: Principal, facts: AccessFacts, call: tuple[Action, Resource], keep: list[bool], later: dt.timedelta
) -> None:
    """Dropping any facts (revoked, removed, ended) or a later ``now`` only takes access and visibility away;
    the time zone ``now`` is written in changes nothing."""
    action, resource = call
    flags = iter(keep)
    fewer = AccessFacts(
        grants=tuple(f for f in facts.grants if next(flags)),
        code_sessions=tuple(f for f in facts.code_sessions if next(flags)),
        break_glass=tuple(f for f in facts.break_glass if next(flags)),
        proxies=tuple(f for f in facts.proxies if next(flags)),
        staff_sessions=tuple(f for f in facts.staff_sessions if next(flags)),
        own_institution_access=facts.own_institution_access and next(flags),
    )
    before = decide(principal, action, resource, facts, NOW)
    for after in (
        decide(principal, action, resource, fewer, NOW),
        decide(principal, action, resource, facts, NOW + later),
    ):
        assert before.allowed or not after.allowed
        assert before.visible or not after.visible
    beijing = NOW.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert decide(principal, action, resource, facts, beijing) == before


DOCTOR = Principal("account:1", Role.DOCTOR, "H1", "jti")
NEAR_GLASS = [g for g in GLASS_POOL if g.covers(DOCTOR, NOW) and g.person_ref == "pA"]
DOCTORS = [p for p in PRINCIPAL_POOL if p.role is Role.DOCTOR]
FACTS_WITH_GLASS = facts_of(glass_min=1)
NEAR_STUDIES = [s for s in STUDY_POOL if s.person_ref == "pA"]


@st.composite
def doctor_cases(draw: st.DrawFn) -> tuple[Principal, AccessFacts, StudyFacts]:
    """A doctor, facts and a study, half the time drawn near each other (the doctor's own break-glass on the
    study's person), so that competing bases meet often."""
    near = draw(st.booleans())
    principal = DOCTOR if near else draw(st.sampled_from(DOCTORS))
    facts = draw(FACTS_WITH_GLASS)
    if near:
        facts = replace(facts, break_glass=(draw(st.sampled_from(NEAR_GLASS)), *facts.break_glass))
    return principal, facts, draw(st.sampled_from(NEAR_STUDIES) if near else studies)


ROUTINE_HOME_STUDY = (
    DOCTOR,
    AccessFacts(break_glass=(NEAR_GLASS[0],), own_institution_access=True),
    next(s for s in NEAR_STUDIES if s.uploaded_by == {DOCTOR.institution}),
)
"""Break-glass open, but own-institution already covers every instance: the routine basis must win."""


@PROPERTY
@given(case=doctor_cases(), action=st.sampled_from(STUDY_ACTIONS[:3]))
@example(case=ROUTINE_HOME_STUDY, action=Action.RETRIEVE)
def test_a_doctor_gets_the_most_routine_basis_that_shows_the_whole_study(
    case: tuple[Principal, AccessFacts, StudyFacts], action: Action
) -> None:
    """Own-institution (narrowed by the service to the institution's instances) is chosen over the patient's
    consent only where narrowing loses nothing; break-glass (flagged for review, shown to the patient as an
    emergency) only where no grant or code admits the study and own-institution does not cover all of it."""
    principal, facts, study = case
    decision = decide(principal, action, study, facts, NOW)
    whole = visible_scope(principal, facts, NOW).admits_whole_study(study)
    if decision.basis == OWN_INSTITUTION and whole:
        assert study.uploaded_by <= {principal.institution}
    if decision.basis is not None and decision.basis.startswith("break-glass:"):
        consent: list[GrantFact | CodeSessionFact] = [*facts.grants, *facts.code_sessions]
        assert not any(
            f.covers(principal, NOW) and f.person_ref == study.person_ref and f.scope.admits(study) for f in consent
        )
        own_covers_all = bool(study.uploaded_by) and study.uploaded_by <= {principal.institution}
        assert not (facts.own_institution_access and own_covers_all)
