"""Review flags computed from the chain: each kind is raised by its pattern and not by a near miss, and auditors
(only auditors) list them and mark them reviewed with a note that stays off the chain."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from auth.principals import Role
from imaging_cloud.audit.chain import append
from imaging_cloud.audit.entry import Actor, AuditEntry, Target
from imaging_cloud.audit.flags import FlagFilter, FlagKind, FlagRules, find_flags
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.consent.models import Grant
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.identity.models import Person
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings
from tests.audit.conftest import all_events, events_after, last_seq, verify
from tests.conftest import Hospital, mint_token, register

DOCTOR = Actor("account:41", role="doctor", institution="HOSP-A")
OTHER_DOCTOR = Actor("account:42", role="doctor", institution="HOSP-A")
PATIENT = Actor("person:p-self", role="patient")
#: Monday 2026-03-02, 10:00 in Shanghai (UTC+8): inside office hours.
MONDAY_10H = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
RULES = FlagRules(bulk_patients=2, bulk_studies=3, repeated_denials=3)


def event(
    runtime: Runtime,
    at: dt.datetime,
    *,
    actor: Actor = DOCTOR,
    action: AuditAction = AuditAction.RETRIEVE,
    decision: AuditDecision = AuditDecision.ALLOW,
    patient: str | None = "p-1",
    study: str | None = "2.25.1",
    basis: str | None = "grant:1",
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event as if it happened at ``at`` (the chain stays valid: times are data, not order)."""
    denied = decision is not AuditDecision.ALLOW
    entry = AuditEntry(
        actor=actor,
        action=action,
        decision=decision,
        reason="test",
        status=403 if denied else 200,
        outcome="action-not-allowed" if denied else "ok",
        basis=None if denied else basis,
        target=Target(TargetKind.STUDY, study) if study else None,
        patient=patient,
        details=details or {},
    )
    with runtime.units() as uow:
        append(uow.session, entry, now=at)


def flags(runtime: Runtime, kind: FlagKind, rules: FlagRules = RULES) -> list[Any]:
    with runtime.sessions() as session:
        return find_flags(session, rules, FlagFilter(kinds=(kind,)))


def test_a_break_glass_session_is_one_flag_with_its_opening_and_every_access_on_it(runtime: Runtime) -> None:
    opened = {"break_glass_session": 7, "purpose": "emergency"}
    event(runtime, MONDAY_10H, action=AuditAction.BREAK_GLASS, basis="doctor", study=None, details=opened)
    event(runtime, MONDAY_10H + dt.timedelta(minutes=5), basis="break-glass:7")
    event(runtime, MONDAY_10H + dt.timedelta(minutes=6), basis="break-glass:7", study="2.25.2")
    event(runtime, MONDAY_10H, basis="grant:1")  # routine access: no flag
    refused = {"break_glass_session": 8}
    event(runtime, MONDAY_10H, action=AuditAction.BREAK_GLASS, decision=AuditDecision.DENY, details=refused)
    [flag] = flags(runtime, FlagKind.BREAK_GLASS)
    assert (flag.id, flag.actor, flag.patient, flag.events, flag.studies) == (
        "break-glass.7",
        "account:41",
        "p-1",
        3,
        2,
    )
    assert (flag.first_seq, flag.last_seq, flag.first_at) == (1, 3, MONDAY_10H)


def test_bulk_access_is_more_distinct_persons_or_studies_than_allowed_in_one_window(runtime: Runtime) -> None:
    window = MONDAY_10H.replace(minute=0)
    for minute, person in enumerate(("p-1", "p-2", "p-3")):  # three persons in one hour: more than two
        event(runtime, window + dt.timedelta(minutes=minute), patient=person, study=f"2.25.{minute}")
    for hour, person in ((2, "p-1"), (2, "p-2"), (3, "p-3")):  # the same three, split over two windows
        event(runtime, window + dt.timedelta(hours=hour), actor=OTHER_DOCTOR, patient=person, study="2.25.9")
    for index in range(4):  # four studies of one person in one window: more than three
        event(runtime, window + dt.timedelta(hours=5, minutes=index), study=f"2.25.{100 + index}")
    for person in ("p-1", "p-2", "p-3"):  # uploads and denials are not reads
        event(runtime, window + dt.timedelta(hours=7), actor=PATIENT, action=AuditAction.UPLOAD, patient=person)
        event(runtime, window + dt.timedelta(hours=7), actor=PATIENT, decision=AuditDecision.DENY, patient=person)
    found = sorted(flags(runtime, FlagKind.BULK_ACCESS), key=lambda f: f.first_seq)
    assert [(f.actor, f.patients, f.studies, f.events) for f in found] == [
        ("account:41", 3, 3, 3),
        ("account:41", 1, 4, 4),
    ]
    bucket = int(window.timestamp()) // 3600
    assert found[0].id == f"bulk-access.{bucket}.account:41" and found[0].patient is None
    assert flags(runtime, FlagKind.BULK_ACCESS, dataclasses.replace(RULES, bulk_patients=3, bulk_studies=4)) == []


def test_staff_access_outside_office_hours_in_shanghai_is_flagged_per_actor_and_local_day(runtime: Runtime) -> None:
    event(runtime, MONDAY_10H)  # 10:00 Monday
    event(runtime, MONDAY_10H + dt.timedelta(hours=8))  # 18:00 Monday: closed
    event(runtime, MONDAY_10H + dt.timedelta(hours=9))  # 19:00 Monday
    event(runtime, MONDAY_10H - dt.timedelta(hours=2, minutes=1))  # 07:59 Monday
    event(runtime, MONDAY_10H + dt.timedelta(days=5))  # 10:00 Saturday
    event(runtime, MONDAY_10H + dt.timedelta(hours=9), actor=PATIENT)  # a patient at night is not unusual
    event(runtime, MONDAY_10H + dt.timedelta(hours=9), patient=None, study=None)  # nobody's data
    event(runtime, MONDAY_10H + dt.timedelta(hours=9), decision=AuditDecision.DENY)  # nothing was accessed
    found = sorted(flags(runtime, FlagKind.OUTSIDE_OFFICE_HOURS), key=lambda f: f.first_seq)
    assert [(f.id, f.events) for f in found] == [
        ("outside-office-hours.2026-03-02.account:41", 3),
        ("outside-office-hours.2026-03-07.account:41", 1),
    ]
    utc_office = dataclasses.replace(RULES, timezone="UTC", office_start=dt.time(0, 0), office_end=dt.time(23, 59))
    assert [f.id for f in flags(runtime, FlagKind.OUTSIDE_OFFICE_HOURS, utc_office)] == [
        "outside-office-hours.2026-03-07.account:41",  # Saturday
        "outside-office-hours.2026-03-01.account:41",  # 23:59 UTC on Sunday (07:59 Monday in Shanghai)
    ]


def _grant(runtime: Runtime, person_id: int, institution_id: int, created: dt.datetime, days: int) -> int:
    with runtime.units() as uow:
        grant = Grant(
            person_id=person_id,
            grantee_institution_id=institution_id,
            purpose="treatment",
            created_at=created,
            expires_at=created + dt.timedelta(days=days),
        )
        uow.session.add(grant)
        uow.session.flush()
        return grant.id


def test_access_on_a_grant_renewed_after_an_earlier_one_expired_is_flagged(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, hospital_b: Hospital, patient: SyntheticPatient
) -> None:
    pseudonym = register(client, hospital_a, patient, "MRN-FLAG-1")
    with runtime.sessions() as session:
        person_id = session.scalar(select(Person.id).where(Person.pseudonym == pseudonym))
    assert person_id is not None
    start = MONDAY_10H - dt.timedelta(days=60)
    first = _grant(runtime, person_id, hospital_a.institution_id, start, days=10)
    renewed = _grant(runtime, person_id, hospital_a.institution_id, start + dt.timedelta(days=20), days=30)
    overlapping = _grant(runtime, person_id, hospital_b.institution_id, start, days=10)
    extended = _grant(runtime, person_id, hospital_b.institution_id, start + dt.timedelta(days=5), days=30)
    other = _grant(runtime, person_id, hospital_b.institution_id, start - dt.timedelta(days=90), days=365)
    for grant in (first, renewed, renewed, overlapping, extended, other):
        event(runtime, MONDAY_10H, patient=pseudonym, basis=f"grant:{grant}")
    event(runtime, MONDAY_10H, decision=AuditDecision.DENY, patient=pseudonym)
    [flag] = flags(runtime, FlagKind.RENEWED_GRANT)
    assert (flag.id, flag.events, flag.patient) == (f"renewed-grant.{renewed}", 2, pseudonym)


def test_repeated_denials_of_one_actor_in_one_window_are_flagged(runtime: Runtime) -> None:
    window = MONDAY_10H.replace(minute=0)
    for minute in range(3):
        event(runtime, window + dt.timedelta(minutes=minute), decision=AuditDecision.DENY)
    for minute in (0, 59, 61):  # three denials, but not in one window
        event(runtime, window + dt.timedelta(hours=3, minutes=minute), actor=OTHER_DOCTOR, decision=AuditDecision.DENY)
    for actor in (PATIENT, OTHER_DOCTOR):  # two actors, two denials between them
        event(runtime, window + dt.timedelta(hours=6), actor=actor, decision=AuditDecision.DENY)
    event(runtime, window + dt.timedelta(minutes=5))  # an allowed access is not a denial
    [flag] = flags(runtime, FlagKind.REPEATED_DENIALS)
    assert (flag.actor, flag.events, flag.first_seq, flag.last_seq) == ("account:41", 3, 1, 3)
    assert flags(runtime, FlagKind.REPEATED_DENIALS, dataclasses.replace(RULES, repeated_denials=4)) == []


# -- the auditor's API ---------------------------------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"audit_bulk_patients": 2, "audit_repeated_denials": 3})


def _seed_every_kind(runtime: Runtime) -> None:
    night = MONDAY_10H + dt.timedelta(hours=10)  # 20:00 Monday in Shanghai
    event(runtime, night, action=AuditAction.BREAK_GLASS, details={"break_glass_session": 3})
    for person in ("p-1", "p-2", "p-3"):
        event(runtime, MONDAY_10H, actor=OTHER_DOCTOR, patient=person)
    for _ in range(3):
        event(runtime, MONDAY_10H + dt.timedelta(days=1), actor=PATIENT, decision=AuditDecision.DENY)


def test_auditors_list_flags_by_kind_review_state_and_time_and_page_through_them(
    client: TestClient, runtime: Runtime, auditor_headers: dict[str, str]
) -> None:
    _seed_every_kind(runtime)

    def listed(**params: Any) -> Any:
        response = client.get("/audit/flags", params=params, headers=auditor_headers)
        assert response.status_code == 200, response.text
        return response.json()

    everything = listed()
    assert [f["kind"] for f in everything["flags"]] == [
        "repeated-denials",
        "bulk-access",
        "outside-office-hours",
        "break-glass",
    ]
    assert everything["next_before_seq"] is None
    assert [f["id"] for f in listed(kind="break-glass")["flags"]] == ["break-glass.3"]
    assert {f["kind"] for f in listed(kind=["break-glass", "repeated-denials"])["flags"]} == {
        "break-glass",
        "repeated-denials",
    }
    tuesday = (MONDAY_10H + dt.timedelta(hours=22)).isoformat()
    assert [f["kind"] for f in listed(since=tuesday)["flags"]] == ["repeated-denials"]
    assert [f["kind"] for f in listed(until=tuesday, reviewed="false")["flags"]][-1] == "break-glass"
    assert listed(reviewed="true")["flags"] == []

    first = listed(limit=3)
    assert len(first["flags"]) == 3 and first["next_before_seq"] is not None
    rest = listed(limit=3, before_seq=first["next_before_seq"], before_id=first["next_before_id"])
    assert [f["kind"] for f in rest["flags"]] == ["break-glass"] and rest["next_before_seq"] is None
    assert client.get("/audit/flags", params={"before_seq": 3}, headers=auditor_headers).status_code == 400
    assert client.get("/audit/flags", params={"kind": "gossip"}, headers=auditor_headers).status_code == 422

    lists = [e for e in all_events(runtime) if e.action == "flag-list"]
    assert lists[0].details["results"] == 4 and lists[0].details["rules"]["timezone"] == "Asia/Shanghai"
    assert (lists[0].actor, lists[0].decision, lists[0].basis) == ("account:auditor", "allow", "auditor")


def test_an_auditor_marks_a_flag_reviewed_once_with_a_note_kept_off_the_chain(
    client: TestClient, runtime: Runtime, auditor_headers: dict[str, str]
) -> None:
    _seed_every_kind(runtime)
    note = "张医生夜间急诊，已电话核实"
    before = last_seq(runtime)
    response = client.post("/audit/flags/break-glass.3/review", json={"note": note}, headers=auditor_headers)
    assert response.status_code == 200, response.text
    reviewed = response.json()
    assert (reviewed["reviewed"], reviewed["reviewed_by"], reviewed["note"]) == (True, "account:auditor", note)
    [recorded] = events_after(runtime, before)
    assert (recorded.action, recorded.target_kind, recorded.target_id) == ("flag-review", "audit-flag", "break-glass.3")
    assert (recorded.patient, recorded.decision, recorded.details["flag"]) == ("p-1", "allow", "break-glass")

    again = client.post("/audit/flags/break-glass.3/review", json={"note": "again"}, headers=auditor_headers)
    assert (again.status_code, again.json()["code"]) == (409, "already-reviewed")
    for missing in ("break-glass.99", "no-such-kind.1", "nonsense"):
        answer = client.post(f"/audit/flags/{missing}/review", json={"note": "none"}, headers=auditor_headers)
        assert (answer.status_code, answer.json()["code"]) == (404, "flag-not-found")
    short = client.post("/audit/flags/break-glass.3/review", json={"note": ""}, headers=auditor_headers)
    assert short.status_code == 422

    done = client.get("/audit/flags", params={"reviewed": "true"}, headers=auditor_headers).json()["flags"]
    assert [(f["id"], f["note"]) for f in done] == [("break-glass.3", note)]
    seeded = {"reviewed": "false", "until": (MONDAY_10H + dt.timedelta(days=2)).isoformat()}  # not the test's own
    waiting = client.get("/audit/flags", params=seeded, headers=auditor_headers).json()["flags"]
    assert "break-glass.3" not in {f["id"] for f in waiting} and len(waiting) == 3
    assert note not in json.dumps([[e.details, e.reason, e.target_id] for e in all_events(runtime)], ensure_ascii=False)
    assert verify(runtime).ok


def test_only_auditors_see_or_review_flags(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, admin_token: str
) -> None:
    _seed_every_kind(runtime)
    doctor = mint_token(runtime, Role.DOCTOR, "HOSP-A", subject="account:41")
    patient = runtime.issuer.issue(
        subject="person:p-1", role="patient", ttl=dt.timedelta(minutes=5), extra={"person_ref": "p-1"}
    ).token
    before = last_seq(runtime)
    for token in (hospital_a.token, admin_token, doctor, patient):
        headers = {"Authorization": f"Bearer {token}"}
        listed = client.get("/audit/flags", headers=headers)
        review = client.post("/audit/flags/break-glass.3/review", json={"note": "mine"}, headers=headers)
        assert (listed.status_code, review.status_code) == (403, 403)
    denials = events_after(runtime, before)
    assert len(denials) == 8 and all(e.decision == "deny" and e.status == 403 for e in denials)
    assert {e.action for e in denials} == {"flag-list", "flag-review"}
