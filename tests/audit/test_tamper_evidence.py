"""Whoever gets around the triggers (a superuser, the SQLite file) still cannot change the trail unseen:
edits, deletions, reordering and truncation are each found, and the first broken event is named."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from auth.tokens import SigningKey
from imaging_cloud.audit.chain import append, chain_hash, event_fields
from imaging_cloud.audit.checkpoints import create_checkpoint
from imaging_cloud.audit.entry import OPERATOR, Actor, AuditEntry, Target
from imaging_cloud.audit.models import AccessEvent, AuditCheckpoint
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.runtime import Runtime
from tests.audit.conftest import all_events, verify, without_append_only_triggers

CHECKPOINT = AuditEntry(OPERATOR, AuditAction.CHECKPOINT_AUDIT, AuditDecision.ALLOW, "checkpoint", 200)


def _entry(number: int) -> AuditEntry:
    return AuditEntry(
        actor=Actor("client:HOSP-A", role="hospital", institution="HOSP-A"),
        action=AuditAction.RETRIEVE,
        decision=AuditDecision.DENY if number % 3 == 0 else AuditDecision.ALLOW,
        reason=f"event {number}",
        status=404 if number % 3 == 0 else 200,
        basis=None if number % 3 == 0 else "own-upload",
        target=Target(TargetKind.STUDY, f"2.25.{number}"),
        details={"n": number},
    )


def fill(runtime: Runtime, count: int, *, checkpoint_after: int | None = None, key: SigningKey | None = None) -> None:
    """``count`` events; a signed checkpoint (itself an event) after event ``checkpoint_after``."""
    with runtime.units() as uow:
        for number in range(1, count + 1):
            append(uow.session, _entry(number))
            if number == checkpoint_after:
                create_checkpoint(uow.session, key or runtime.signing_key, CHECKPOINT)


def tamper(runtime: Runtime, *statements: str) -> None:
    with runtime.engine.begin() as connection:
        without_append_only_triggers(connection)
        for statement in statements:
            connection.execute(text(statement))


def edit(runtime: Runtime, model: type[AccessEvent] | type[AuditCheckpoint], key: int, **changes: object) -> None:
    """Change one row through the ORM (portable across backends), triggers out of the way."""
    with runtime.sessions() as session, session.begin():
        without_append_only_triggers(session.connection())
        row = session.get_one(model, key)
        for name, value in changes.items():
            setattr(row, name, value)


def test_an_untouched_trail_verifies(runtime: Runtime) -> None:
    fill(runtime, 8, checkpoint_after=4)
    report = verify(runtime)
    assert report.ok, report.findings
    assert (report.events_checked, report.last_seq, report.checkpoints_checked) == (9, 9, 1)


def test_an_edited_event_is_named(runtime: Runtime) -> None:
    fill(runtime, 8)
    tamper(runtime, "UPDATE audit_events SET decision = 'allow', status = 200 WHERE seq = 3")
    report = verify(runtime)
    assert not report.ok
    assert report.first_broken is not None
    assert (report.first_broken.problem, report.first_broken.seq) == ("hash-mismatch", 3)
    assert report.last_seq == 2


def test_an_edited_event_with_its_own_hash_recomputed_breaks_the_next_link(runtime: Runtime) -> None:
    fill(runtime, 8)
    with runtime.sessions() as session, session.begin():
        without_append_only_triggers(session.connection())
        event = session.get_one(AccessEvent, 3)
        event.reason = "nothing happened"
        event.hash = chain_hash(event.prev_hash, event_fields(event))
    report = verify(runtime)
    assert report.first_broken is not None
    assert (report.first_broken.problem, report.first_broken.seq) == ("prev-hash-mismatch", 4)


def test_a_deleted_event_is_named(runtime: Runtime) -> None:
    fill(runtime, 8)
    tamper(runtime, "DELETE FROM audit_events WHERE seq = 5")
    report = verify(runtime)
    assert report.first_broken is not None
    assert (report.first_broken.problem, report.first_broken.seq) == ("sequence-gap", 5)


def test_reordered_events_are_named(runtime: Runtime) -> None:
    fill(runtime, 8)
    tamper(
        runtime,
        "UPDATE audit_events SET seq = -1 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = -1",
    )
    report = verify(runtime)
    assert report.first_broken is not None
    assert (report.first_broken.problem, report.first_broken.seq) == ("prev-hash-mismatch", 3)


def test_events_moved_in_time_are_named(runtime: Runtime) -> None:
    fill(runtime, 4)
    [event] = [e for e in all_events(runtime) if e.seq == 2]
    edit(runtime, AccessEvent, 2, occurred_at=event.occurred_at - dt.timedelta(days=1))
    report = verify(runtime)
    assert report.first_broken is not None
    assert (report.first_broken.problem, report.first_broken.seq) == ("hash-mismatch", 2)


def test_a_truncated_tail_is_found_by_the_chain_head(runtime: Runtime) -> None:
    fill(runtime, 8)
    tamper(runtime, "DELETE FROM audit_events WHERE seq > 6")
    report = verify(runtime)
    assert report.first_broken is None  # what is left is a consistent chain ...
    assert [(f.problem, f.seq) for f in report.findings] == [("head-mismatch", 8)]  # ... but not the whole one


def test_a_truncated_tail_with_a_rewound_head_is_found_by_a_signed_checkpoint(runtime: Runtime) -> None:
    fill(runtime, 8, checkpoint_after=7)  # the checkpoint's own event is seq 8
    with runtime.sessions() as session:
        seq6_hash = session.scalar(select(AccessEvent.hash).where(AccessEvent.seq == 6))
    tamper(
        runtime,
        "DELETE FROM audit_events WHERE seq > 6",
        f"UPDATE audit_chain_head SET seq = 6, hash = '{seq6_hash}'",
    )
    report = verify(runtime)
    assert [(f.problem, f.seq) for f in report.findings] == [("checkpoint-event-missing", 8)]


def test_a_rewritten_and_rehashed_history_is_found_by_a_signed_checkpoint(runtime: Runtime) -> None:
    """The strongest forgery without the key: change an old event, recompute every later hash and the head."""
    fill(runtime, 8, checkpoint_after=5)
    with runtime.sessions() as session, session.begin():
        without_append_only_triggers(session.connection())
        events = list(session.scalars(select(AccessEvent).order_by(AccessEvent.seq)))
        events[2].decision, events[2].reason = "allow", "nothing to see"
        previous = events[1].hash
        for event in events[2:]:
            event.prev_hash = previous
            event.hash = previous = chain_hash(previous, event_fields(event))
        session.execute(text("UPDATE audit_chain_head SET hash = :h"), {"h": previous})
    report = verify(runtime)
    assert report.first_broken is None
    assert [(f.problem, f.seq) for f in report.findings] == [("checkpoint-hash-mismatch", 6)]


def test_a_forged_or_foreign_checkpoint_is_refused(runtime: Runtime) -> None:
    fill(runtime, 3, checkpoint_after=1)
    fill(runtime, 1, checkpoint_after=1, key=SigningKey.generate("ES256"))
    assert [f.problem for f in verify(runtime).findings] == ["checkpoint-key-unknown"]
    with runtime.sessions() as session:
        first = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).first()
        assert first is not None
    edit(runtime, AuditCheckpoint, first.id, created_at=first.created_at + dt.timedelta(hours=1))
    problems = [f.problem for f in verify(runtime).findings]
    assert problems == ["checkpoint-signature-invalid", "checkpoint-key-unknown"]


def test_a_deleted_chain_head_is_found(runtime: Runtime) -> None:
    fill(runtime, 2)
    tamper(runtime, "DELETE FROM audit_chain_head")
    assert [f.problem for f in verify(runtime).findings] == ["head-missing"]


REFUSED = [
    "UPDATE audit_events SET reason = 'x' WHERE seq = 1",
    "DELETE FROM audit_events WHERE seq = 1",
    "UPDATE audit_checkpoints SET hash = 'x'",
    "DELETE FROM audit_checkpoints",
    "DELETE FROM audit_chain_head",
    "UPDATE audit_chain_head SET seq = 0",
]


def test_the_database_refuses_to_change_audit_rows(runtime: Runtime) -> None:
    fill(runtime, 2, checkpoint_after=2)
    for statement in REFUSED:
        with pytest.raises(DBAPIError), runtime.engine.begin() as connection:
            connection.execute(text(statement))
    assert verify(runtime).ok


def test_postgresql_refuses_truncate_too(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    fill(runtime, 1)
    for table in ("audit_events", "audit_checkpoints", "audit_chain_head"):
        with pytest.raises(DBAPIError), runtime.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {table} CASCADE"))
    assert verify(runtime).ok
