"""Appends are serialized by the chain head: many writers at once still leave one gap-free chain that verifies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from imaging_cloud.audit.chain import append
from imaging_cloud.audit.entry import Actor, AuditEntry
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision
from imaging_cloud.runtime import Runtime
from tests.audit.conftest import Stored, all_events, last_seq, verify
from tests.conftest import Hospital

THREADS = 8


def test_concurrent_appends_form_one_gap_free_chain(runtime: Runtime) -> None:
    def writer(number: int) -> None:
        for index in range(15):
            entry = AuditEntry(
                Actor(f"client:{number}"), AuditAction.SEARCH, AuditDecision.ALLOW, "r", 200, details={"i": index}
            )
            with runtime.units() as uow:
                append(uow.session, entry)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(writer, range(THREADS)))
    events = all_events(runtime)
    assert [e.seq for e in events] == list(range(1, THREADS * 15 + 1))
    assert {e.actor for e in events} == {f"client:{n}" for n in range(THREADS)}
    assert verify(runtime).ok


def test_concurrent_requests_leave_exactly_their_events_in_a_chain_that_verifies(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, hospital_b: Hospital, stored: Stored
) -> None:
    before = last_seq(runtime)
    paths = [
        f"/dicomweb/studies/{stored.study_uid}/metadata",
        "/dicomweb/studies",
        f"/studies/{stored.study_uid}/reports",
    ]

    def reader(number: int) -> list[int]:
        statuses = []
        for index in range(6):
            hospital = hospital_a if (number + index) % 3 else hospital_b  # a third are denials (404 / empty)
            statuses.append(client.get(paths[index % len(paths)], headers=hospital.headers).status_code)
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [status for batch in pool.map(reader, range(THREADS)) for status in batch]
    assert set(statuses) <= {200, 404} and 404 in statuses
    events = [e for e in all_events(runtime) if e.seq > before]
    assert len(events) == THREADS * 6
    assert sorted(e.status for e in events) == sorted(statuses)
    assert verify(runtime).ok
