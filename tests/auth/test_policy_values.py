"""The policy's value types refuse what they cannot mean, and ``now`` must say which instant it is."""

from __future__ import annotations

import datetime as dt

import pytest

from auth.policy import (
    EMPTY_SCOPE,
    NO_FACTS,
    AccessFacts,
    Action,
    Decision,
    GrantFact,
    PersonFacts,
    PersonScope,
    ProxyRight,
    Scope,
    ScopeKind,
    StudyFacts,
    VisibleScope,
    decide,
    visible_scope,
)
from auth.principals import Principal, Role

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
DOCTOR = Principal("account:11", Role.DOCTOR, "H1", "jti")
STUDY = StudyFacts("2.25.1", "pA", frozenset({"H2"}), frozenset({"CT"}), "20240115")


def test_an_allowed_decision_needs_a_basis() -> None:
    with pytest.raises(ValueError, match="basis"):
        Decision(allowed=True, reason="r", basis=None, visible=True)


def test_an_allowed_decision_is_visible() -> None:
    with pytest.raises(ValueError, match="visible"):
        Decision(allowed=True, reason="r", basis="own-data", visible=False)


def test_a_denial_has_no_basis() -> None:
    with pytest.raises(ValueError, match="no basis"):
        Decision(allowed=False, reason="r", basis="own-data", visible=True)


@pytest.mark.parametrize("allowed", [True, False])
def test_every_decision_needs_a_reason(allowed: bool) -> None:
    with pytest.raises(ValueError, match="reason"):
        Decision(allowed=allowed, reason="", basis="own-data" if allowed else None, visible=True)


def test_decision_constructors_build_the_only_valid_shapes() -> None:
    assert Decision.allow("grant:1", "r") == Decision(True, "r", "grant:1", True)
    assert Decision.deny("r", visible=False) == Decision(False, "r", None, False)
    assert Decision.deny("r", visible=True) == Decision(False, "r", None, True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": ScopeKind.STUDIES}, "at least one study"),
        ({"kind": ScopeKind.MODALITY}, "names the modality"),
        ({"kind": ScopeKind.MODALITY, "modality": ""}, "names the modality"),
        ({"kind": ScopeKind.DATE_RANGE}, "start or an end"),
        ({"kind": ScopeKind.DATE_RANGE, "date_from": "2024-01-01"}, "YYYYMMDD"),
        ({"kind": ScopeKind.DATE_RANGE, "date_to": "2024011"}, "YYYYMMDD"),
        ({"kind": ScopeKind.DATE_RANGE, "date_from": "2024O101"}, "YYYYMMDD"),
        ({"kind": ScopeKind.DATE_RANGE, "date_from": "20240201", "date_to": "20240101"}, "ends before it starts"),
    ],
)
def test_a_scope_missing_what_its_kind_needs_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scope(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": ScopeKind.ALL, "study_uids": frozenset({"2.25.9"})},
        {"kind": ScopeKind.ALL, "modality": "MR"},
        {"kind": ScopeKind.ALL, "date_from": "20240101"},
        {"kind": ScopeKind.STUDIES, "study_uids": frozenset({"2.25.9"}), "modality": "MR"},
        {"kind": ScopeKind.MODALITY, "modality": "MR", "date_to": "20201231"},
        {"kind": ScopeKind.DATE_RANGE, "date_from": "20240101", "study_uids": frozenset({"2.25.9"})},
    ],
)
def test_a_scope_with_fields_its_kind_ignores_is_refused(kwargs: dict[str, object]) -> None:
    """A restriction the patient chose but the kind ignores would silently widen access: refuse it."""
    with pytest.raises(ValueError):
        Scope(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope", "admitted"),
    [
        (Scope(), True),
        (Scope(ScopeKind.STUDIES, study_uids=frozenset({"2.25.1"})), True),
        (Scope(ScopeKind.STUDIES, study_uids=frozenset({"2.25.2"})), False),
        (Scope(ScopeKind.MODALITY, modality="CT"), True),
        (Scope(ScopeKind.MODALITY, modality="MR"), False),
        (Scope(ScopeKind.DATE_RANGE, date_from="20240115", date_to="20240115"), True),
        (Scope(ScopeKind.DATE_RANGE, date_from="20240116"), False),
        (Scope(ScopeKind.DATE_RANGE, date_to="20240115"), True),
        (Scope(ScopeKind.DATE_RANGE, date_to="20240114"), False),
    ],
)
def test_scope_admits_by_its_kind_with_inclusive_dates(scope: Scope, admitted: bool) -> None:
    assert scope.admits(STUDY) is admitted


def test_no_date_range_vouches_for_a_study_without_a_date() -> None:
    undated = StudyFacts("2.25.1", "pA", frozenset(), frozenset({"CT"}), "")
    assert not Scope(ScopeKind.DATE_RANGE, date_from="00000101").admits(undated)
    assert not Scope(ScopeKind.DATE_RANGE, date_to="99991231").admits(undated)


def test_study_and_person_facts_need_their_identifiers() -> None:
    with pytest.raises(ValueError):
        StudyFacts("", "pA", frozenset())
    with pytest.raises(ValueError):
        StudyFacts("2.25.1", "", frozenset())
    with pytest.raises(ValueError):
        PersonFacts("")


@pytest.mark.parametrize(("subject", "institution"), [(None, None), ("account:11", "H1")])
def test_a_grant_names_exactly_one_grantee(subject: str | None, institution: str | None) -> None:
    with pytest.raises(ValueError, match="exactly one grantee"):
        GrantFact(1, "pA", Scope(), NOW, grantee_subject=subject, grantee_institution=institution)


def test_decide_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(DOCTOR, Action.SEARCH, STUDY, NO_FACTS, NOW.replace(tzinfo=None))


def test_visible_scope_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        visible_scope(DOCTOR, NO_FACTS, NOW.replace(tzinfo=None))


def test_the_same_instant_in_another_time_zone_decides_the_same() -> None:
    """A grant expiring 12:30 UTC still holds at 20:15 Beijing time (12:15 UTC)."""
    grant = GrantFact(1, "pA", Scope(), NOW + dt.timedelta(minutes=30), grantee_subject=DOCTOR.subject)
    beijing = (NOW + dt.timedelta(minutes=15)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    decision = decide(DOCTOR, Action.RETRIEVE, STUDY, AccessFacts(grants=(grant,)), beijing)
    assert decision.basis == "grant:1"


def test_the_empty_visible_scope_admits_nothing() -> None:
    assert EMPTY_SCOPE.is_empty
    assert not EMPTY_SCOPE.admits(STUDY)
    assert not EMPTY_SCOPE.admits_whole_study(STUDY)


def test_an_institution_scope_does_not_admit_the_whole_study() -> None:
    """Seen through its uploaders only, a study is narrowed by the service to those uploaders' instances."""
    scope = VisibleScope(uploaded_by_any_of=frozenset({"H2"}))
    assert scope.admits(STUDY)
    assert not scope.admits_whole_study(STUDY)
    assert VisibleScope(persons=frozenset({PersonScope("pA", Scope())})).admits_whole_study(STUDY)


def test_vocabulary_values_are_stable_strings() -> None:
    """Actions reach the audit trail, scope kinds and rights the database: their values never change."""
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
        "manage-grants",
        "issue-code",
        "manage-proxies",
        "view-access-log",
        "redeem-code",
        "break-glass",
        "assist-in-person",
    ]
    assert [kind.value for kind in ScopeKind] == ["all", "studies", "modality", "date-range"]
    assert [right.value for right in ProxyRight] == ["view", "grant", "issue-codes"]
