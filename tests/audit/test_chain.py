"""The chain itself: canonical hashing, serialized appends without gaps, normalized entries."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import text

from imaging_cloud.audit.chain import append, canonical_bytes, chain_hash, event_fields
from imaging_cloud.audit.entry import ANONYMOUS, Actor, AuditEntry, Target
from imaging_cloud.audit.models import GENESIS_HASH, AccessEvent
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.runtime import Runtime
from tests.audit.conftest import all_events, verify

ENTRY = AuditEntry(
    actor=Actor("client:HOSP-A", role="hospital", institution="HOSP-A", token_id="jti-1"),
    action=AuditAction.RETRIEVE,
    decision=AuditDecision.ALLOW,
    reason="study uploaded by this institution",
    status=200,
    basis="own-upload",
    target=Target(TargetKind.STUDY, "2.25.1234"),
    patient="P-PSEUDO",
    client_address="10.0.0.7",
    user_agent="dicomweb-client/0.59",
    request_id="req-1",
    details={"instances": 3, "names": ["a", "b"], "nested": {"ok": True, "none": None}},
)


def test_hash_is_sha256_of_previous_hash_and_canonical_json(runtime: Runtime) -> None:
    with runtime.units() as uow:
        first = append(uow.session, ENTRY)
        second = append(uow.session, ENTRY)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    canonical = canonical_bytes(event_fields(first))
    assert first.hash == hashlib.sha256(GENESIS_HASH.encode() + canonical).hexdigest()
    decoded = json.loads(canonical)
    assert list(decoded) == sorted(decoded)  # keys sorted
    assert b" " not in canonical.replace(b"study uploaded by this institution", b"")
    assert decoded["occurred_at"].endswith("Z") and len(decoded["occurred_at"]) == 27
    assert decoded["seq"] == 1 and decoded["details"]["nested"] == {"ok": True, "none": None}


def test_stored_events_read_back_to_the_same_hash(runtime: Runtime) -> None:
    """What the database returns (times, JSON) serializes exactly as what was hashed, on every backend."""
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with runtime.units() as uow:
        append(uow.session, ENTRY, now=when)
        append(uow.session, AuditEntry(ANONYMOUS, AuditAction.SEARCH, AuditDecision.DENY, "token missing", 401))
    events = all_events(runtime)
    assert events[0].occurred_at == when
    for event in events:
        assert chain_hash(event.prev_hash, event_fields(event)) == event.hash
    assert verify(runtime).ok


def test_seq_is_part_of_the_hash() -> None:
    fields = ENTRY.columns() | {"occurred_at": "2026-01-01T00:00:00.000000Z"}
    assert chain_hash(GENESIS_HASH, fields | {"seq": 1}) != chain_hash(GENESIS_HASH, fields | {"seq": 2})


def test_hostile_text_is_cleaned_and_cut_before_hashing() -> None:
    """Control characters (NUL breaks PostgreSQL text) go, widths are enforced: the row stores what was hashed."""
    hostile = AuditEntry(
        actor=ANONYMOUS,
        action=AuditAction.SIGN_IN,
        decision=AuditDecision.DENY,
        reason="bad\x00 credentials\n",
        status=401,
        user_agent="evil\x00agent\u202e" + "x" * 1000,
        details={"k\x00": ["v\x07alue", 1, None, True]},
    )
    columns = hostile.columns()
    assert columns["reason"] == "bad credentials"
    assert columns["user_agent"].startswith("evilagentx") and len(columns["user_agent"]) == 256
    assert columns["details"] == {"k": ["value", 1, None, True]}


@pytest.mark.parametrize("bad", [{"ratio": 0.5}, {1: "x"}, {"when": dt.datetime(2026, 1, 1)}])
def test_details_must_be_plain_json_without_floats(bad: dict[Any, Any]) -> None:
    with pytest.raises(TypeError):
        AuditEntry(ANONYMOUS, AuditAction.SEARCH, AuditDecision.ERROR, "r", 400, details=bad).columns()


def test_a_rolled_back_append_leaves_no_event_and_no_gap(runtime: Runtime) -> None:
    uow = runtime.units()
    append(uow.session, ENTRY)
    uow.rollback()
    uow.session.close()
    with runtime.units() as uow:
        event = append(uow.session, ENTRY)
    assert event.seq == 1 and event.prev_hash == GENESIS_HASH
    with runtime.engine.connect() as connection:
        assert connection.execute(text("SELECT seq, hash FROM audit_chain_head")).one() == (1, event.hash)


def test_every_vocabulary_value_fits_its_column() -> None:
    """A value wider than its column is refused by PostgreSQL (SQLite stores it): the request would answer 503."""
    widths = {
        AuditAction: AccessEvent.__table__.c.action.type.length,
        AuditDecision: AccessEvent.__table__.c.decision.type.length,
        TargetKind: AccessEvent.__table__.c.target_kind.type.length,
    }
    for vocabulary, width in widths.items():
        assert all(len(member.value) <= width for member in vocabulary), vocabulary
