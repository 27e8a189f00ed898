"""The policy as an explicit table: every role × action × study situation, with the exact expected outcome.

Outcomes: ``allow:<basis>``; ``404`` (denied, not visible); ``403`` (denied, visible); ``error`` (the call itself
is wrong: a study where none belongs, or none where one is required).
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth.policy import (
    Action,
    Decision,
    StudyFacts,
    VisibleScope,
    decide,
    visible_scope,
)
from auth.principals import Principal, Role

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
HOME = "H1"

PRINCIPALS: dict[Role, Principal] = {
    Role.HOSPITAL: Principal("client:h1", Role.HOSPITAL, HOME, "j1"),
    Role.DOCTOR: Principal("account:doc", Role.DOCTOR, HOME, "j2"),
    Role.SERVICE_DESK: Principal("account:desk", Role.SERVICE_DESK, HOME, "j3"),
    Role.PATIENT: Principal("person:p1", Role.PATIENT, None, "j4", person_ref="P1"),
    Role.PROXY: Principal("person:p2", Role.PROXY, None, "j5", person_ref="P2"),
    Role.AUDITOR: Principal("account:aud", Role.AUDITOR, None, "j6"),
    Role.ADMIN: Principal("account:adm", Role.ADMIN, None, "j7"),
}

STUDIES: dict[str, StudyFacts | None] = {
    "none": None,
    # uploaded by the principals' institution, belonging to the patient principal's own person
    "own": StudyFacts("2.25.1", "P1", frozenset({HOME})),
    # uploaded elsewhere, belonging to someone else
    "other": StudyFacts("2.25.2", "P9", frozenset({"H2"})),
    # one study with instances from two institutions
    "shared": StudyFacts("2.25.3", "P1", frozenset({HOME, "H2"})),
}

A = Action
E = "error"
OWN_UPLOAD = "allow:own-upload"
OWN_INSTITUTION = "allow:own-institution"

# Roles with no access basis yet (issue 5 adds grants, codes, proxies, own-data, break-glass) and auditors:
# every study invisible, every other action forbidden.
NOTHING_YET: dict[Action, tuple[str, str, str, str]] = {
    A.SEARCH: ("403", "404", "404", "404"),
    A.RETRIEVE: (E, "404", "404", "404"),
    A.READ_REPORT: (E, "404", "404", "404"),
    A.UPLOAD: ("403", E, E, E),
    A.REGISTER_XREF: ("403", E, E, E),
    A.UPLOAD_REPORT: ("403", "404", "404", "404"),
    A.ADMINISTER: ("403", E, E, E),
    A.READ_AUDIT: ("403", E, E, E),
    A.EXPORT_AUDIT: ("403", E, E, E),
}

#                      study:  none               own         other   shared
EXPECTED: dict[Role, dict[Action, tuple[str, str, str, str]]] = {
    Role.HOSPITAL: {
        A.SEARCH: (OWN_UPLOAD, OWN_UPLOAD, "404", OWN_UPLOAD),
        A.RETRIEVE: (E, OWN_UPLOAD, "404", OWN_UPLOAD),
        A.READ_REPORT: (E, OWN_UPLOAD, "404", OWN_UPLOAD),
        A.UPLOAD: (OWN_INSTITUTION, E, E, E),
        A.REGISTER_XREF: (OWN_INSTITUTION, E, E, E),
        A.UPLOAD_REPORT: (OWN_INSTITUTION, OWN_UPLOAD, "404", OWN_UPLOAD),
        A.ADMINISTER: ("403", E, E, E),
        A.READ_AUDIT: ("403", E, E, E),
        A.EXPORT_AUDIT: ("403", E, E, E),
    },
    Role.ADMIN: {
        A.SEARCH: ("403", "404", "404", "404"),
        A.RETRIEVE: (E, "404", "404", "404"),
        A.READ_REPORT: (E, "404", "404", "404"),
        A.UPLOAD: ("403", E, E, E),
        A.REGISTER_XREF: ("403", E, E, E),
        A.UPLOAD_REPORT: ("403", "404", "404", "404"),
        A.ADMINISTER: ("allow:administrator", E, E, E),
        A.READ_AUDIT: ("403", E, E, E),
        A.EXPORT_AUDIT: ("403", E, E, E),
    },
    # Auditors read and export the audit trail and nothing else: no study is ever visible to them.
    Role.AUDITOR: {**NOTHING_YET, A.READ_AUDIT: ("allow:auditor", E, E, E), A.EXPORT_AUDIT: ("allow:auditor", E, E, E)},
    Role.DOCTOR: NOTHING_YET,
    Role.PATIENT: NOTHING_YET,
    Role.PROXY: NOTHING_YET,
    Role.SERVICE_DESK: NOTHING_YET,
}

CASES = [
    pytest.param(role, action, kind, EXPECTED[role][action][index], id=f"{role}-{action}-{kind}")
    for role, action in itertools.product(Role, Action)
    for index, kind in enumerate(STUDIES)
]


def outcome(decision: Decision) -> str:
    if decision.allowed:
        return f"allow:{decision.basis}"
    return "403" if decision.visible else "404"


def test_table_covers_every_role_and_action() -> None:
    assert set(EXPECTED) == set(Role)
    assert all(set(row) == set(Action) for row in EXPECTED.values())


@pytest.mark.parametrize(("role", "action", "kind", "expected"), CASES)
def test_decision_matches_the_table(role: Role, action: Action, kind: str, expected: str) -> None:
    principal, study = PRINCIPALS[role], STUDIES[kind]
    if expected == E:
        with pytest.raises(ValueError):
            decide(principal, action, study, NOW)
        return
    decision = decide(principal, action, study, NOW)
    assert outcome(decision) == expected
    assert decision.reason


def test_hospital_never_sees_another_institutions_study_even_of_its_own_patient() -> None:
    study = StudyFacts("2.25.9", "P1", frozenset({"H2"}))
    for action in (A.SEARCH, A.RETRIEVE, A.READ_REPORT, A.UPLOAD_REPORT):
        assert outcome(decide(PRINCIPALS[Role.HOSPITAL], action, study, NOW)) == "404"


def test_hospital_sees_nothing_of_a_study_without_uploaders() -> None:
    study = StudyFacts("2.25.10", "P1", frozenset())
    assert outcome(decide(PRINCIPALS[Role.HOSPITAL], A.RETRIEVE, study, NOW)) == "404"


def test_administrators_are_told_they_never_read_images() -> None:
    decision = decide(PRINCIPALS[Role.ADMIN], A.SEARCH, None, NOW)
    assert "never read images" in decision.reason


@pytest.mark.parametrize(("role", "action"), list(itertools.product(Role, Action)))
def test_visible_denials_do_not_mention_the_study(role: Role, action: Action) -> None:
    for study in STUDIES.values():
        try:
            decision = decide(PRINCIPALS[role], action, study, NOW)
        except ValueError:
            continue
        if study is not None and not decision.allowed and decision.visible:
            assert study.study_uid not in decision.reason and study.person_ref not in decision.reason


def test_only_auditors_read_or_export_the_audit_trail() -> None:
    for role, principal in PRINCIPALS.items():
        for action in (A.READ_AUDIT, A.EXPORT_AUDIT):
            decision = decide(principal, action, None, NOW)
            assert decision.allowed == (role is Role.AUDITOR)
            assert decision.visible


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        decide(PRINCIPALS[Role.HOSPITAL], A.UPLOAD, None, dt.datetime(2030, 1, 1))


# --- visible_scope: the SQL-filter form of visibility ------------------------------------------------------


def test_visible_scope_per_role() -> None:
    assert visible_scope(PRINCIPALS[Role.HOSPITAL]) == VisibleScope(uploaded_by_any_of=frozenset({HOME}))
    for role in set(Role) - {Role.HOSPITAL}:
        scope = visible_scope(PRINCIPALS[role])
        assert scope.is_empty, role
        assert not any(scope.admits(study) for study in STUDIES.values() if study is not None)


institutions = st.frozensets(st.sampled_from(["H1", "H2", "H3"]), max_size=3)


@given(
    role=st.sampled_from(list(Role)),
    institution=st.sampled_from(["H1", "H2", "H3"]),
    uploaded_by=institutions,
    action=st.sampled_from([A.SEARCH, A.RETRIEVE, A.READ_REPORT, A.UPLOAD_REPORT]),
)
def test_visible_scope_agrees_with_decide_for_every_study(
    role: Role, institution: str, uploaded_by: frozenset[str], action: Action
) -> None:
    bound = institution if role in (Role.HOSPITAL, Role.DOCTOR, Role.SERVICE_DESK) else None
    person = "P1" if role in (Role.PATIENT, Role.PROXY) else None
    principal = Principal("s", role, bound, "j", person_ref=person)
    study = StudyFacts("2.25.4", "P1", uploaded_by)
    decision = decide(principal, action, study, NOW)
    assert visible_scope(principal).admits(study) == decision.visible == decision.allowed


# --- the value types ---------------------------------------------------------------------------------------


def test_decision_invariants() -> None:
    with pytest.raises(ValueError):
        Decision(allowed=True, reason="r", basis=None, visible=True)
    with pytest.raises(ValueError):
        Decision(allowed=True, reason="r", basis="own-upload", visible=False)
    with pytest.raises(ValueError):
        Decision(allowed=False, reason="r", basis="own-upload", visible=True)
    with pytest.raises(ValueError):
        Decision(allowed=False, reason="", basis=None, visible=False)
    assert Decision.allow("own-upload", "r") == Decision(True, "r", "own-upload", True)
    assert Decision.deny("r", visible=False) == Decision(False, "r", None, False)


def test_study_facts_need_uid_and_person() -> None:
    with pytest.raises(ValueError):
        StudyFacts("", "P1", frozenset())
    with pytest.raises(ValueError):
        StudyFacts("2.25.1", "", frozenset())


def test_action_values_are_stable_strings() -> None:
    assert [action.value for action in Action] == [
        "search",
        "retrieve",
        "upload",
        "register-xref",
        "read-report",
        "upload-report",
        "administer",
        "read-audit",
        "export-audit",
    ]
