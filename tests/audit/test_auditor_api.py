"""Auditors search, verify and export the trail (FHIR R4 AuditEvent, NDJSON, CSV); nobody else may, and every
look at the trail is itself an event."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import text

from auth.principals import Role
from auth.signatures import verify_bytes
from imaging_cloud.audit import recorder
from imaging_cloud.audit.checkpoints import checkpoint_message, create_checkpoint
from imaging_cloud.audit.entry import OPERATOR, AuditEntry
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.runtime import Runtime
from tests.audit.conftest import Stored, all_events, events_after, last_seq, verify, without_append_only_triggers
from tests.conftest import Hospital, mint_token


def test_only_auditors_read_the_trail(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, admin_token: str
) -> None:
    doctor = mint_token(runtime, Role.DOCTOR, "HOSP-A", subject="account:doc")
    before = last_seq(runtime)
    for token in (hospital_a.token, admin_token, doctor):
        for path in ("/audit/events", "/audit/export", "/audit/verify", "/audit/checkpoints"):
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 403, (path, response.status_code)
            assert response.json()["code"] == "action-not-allowed"
    denials = events_after(runtime, before)
    assert len(denials) == 12
    assert all(e.decision == "deny" and e.reason == "only auditors read the audit trail" for e in denials)


def test_search_filters_and_pages(
    client: TestClient,
    runtime: Runtime,
    hospital_a: Hospital,
    hospital_b: Hospital,
    stored: Stored,
    auditor_headers: dict[str, str],
) -> None:
    client.get(f"/dicomweb/studies/{stored.study_uid}", headers=hospital_b.headers)  # a denial by HOSP-B
    start = dt.datetime.now(dt.UTC)
    client.get(f"/dicomweb/studies/{stored.study_uid}/metadata", headers=hospital_a.headers)

    def search(**params: Any) -> Any:
        response = client.get("/audit/events", params=params, headers=auditor_headers)
        assert response.status_code == 200, response.text
        return response.json()

    denied = search(decision="deny", institution="HOSP-B")["events"]
    assert [(e["action"], e["target_id"], e["status"]) for e in denied] == [("retrieve", stored.study_uid, 404)]
    mine = search(patient=stored.pseudonym)["events"]
    assert {e["action"] for e in mine} >= {"register-xref", "upload", "upload-report", "retrieve-metadata"}
    assert all(e["patient"] == stored.pseudonym for e in mine)
    recent = search(since=start.isoformat(), actor="client:HOSP-A")["events"]
    assert [e["action"] for e in recent] == ["retrieve-metadata"]
    assert search(until=start.isoformat(), action="retrieve-metadata")["events"] == []
    assert [e["action"] for e in search(target=stored.study_uid, basis="own-institution")["events"]] == ["upload"]

    first = search(limit=2)
    assert [e["seq"] for e in first["events"]] == [1, 2] and first["next_after_seq"] == 2
    second = search(limit=2, after_seq=first["next_after_seq"])
    assert [e["seq"] for e in second["events"]] == [3, 4]
    everything = search(limit=1000)
    assert everything["next_after_seq"] is None
    for event in everything["events"][1:]:
        assert event["prev_hash"] == next(e["hash"] for e in everything["events"] if e["seq"] == event["seq"] - 1)

    reads = [e for e in all_events(runtime) if e.action == "read-audit"]
    assert len(reads) == 8
    assert reads[0].details == {"filters": {"decision": "deny", "institution": "HOSP-B"}, "after_seq": 0, "results": 1}
    assert (reads[0].actor, reads[0].actor_role, reads[0].basis) == ("account:auditor", "auditor", "auditor")


def test_search_by_national_id_or_health_card_resolves_the_pseudonym_server_side(
    client: TestClient, runtime: Runtime, stored: Stored, patient: SyntheticPatient, auditor_headers: dict[str, str]
) -> None:
    def search(**body: Any) -> Any:
        response = client.post("/audit/events/search", json=body, headers=auditor_headers)
        assert response.status_code == 200, response.text
        return response.json()["events"]

    by_id = search(national_id=patient.national_id)
    assert {e["action"] for e in by_id} == {"register-xref", "upload", "upload-report"}
    assert [e["action"] for e in search(health_card=patient.health_card, action="upload")] == ["upload"]
    assert search(national_id="11010519491231002X") == []  # nobody the cloud knows
    both = {"national_id": patient.national_id, "health_card": patient.health_card}
    assert client.post("/audit/events/search", json=both, headers=auditor_headers).status_code == 400

    searches = [e for e in all_events(runtime) if e.action == "read-audit"]
    assert [(e.target_kind, e.patient, e.details["person_known"]) for e in searches[:3]] == [
        ("person", stored.pseudonym, True),
        ("person", stored.pseudonym, True),
        ("audit-trail", None, False),
    ]
    dump = json.dumps([[e.details, e.target_id, e.reason] for e in all_events(runtime)])
    assert patient.national_id not in dump and patient.health_card not in dump


def test_a_bad_search_is_refused(client: TestClient, auditor_headers: dict[str, str]) -> None:
    assert client.get("/audit/events", params={"action": "peek"}, headers=auditor_headers).status_code == 422
    backwards = {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    assert client.get("/audit/events", params=backwards, headers=auditor_headers).status_code == 400


def test_verify_names_the_first_broken_event(
    client: TestClient, runtime: Runtime, stored: Stored, auditor_headers: dict[str, str]
) -> None:
    report = client.get("/audit/verify", headers=auditor_headers).json()
    assert report["ok"] and report["first_broken"] is None and report["events_checked"] == last_seq(runtime) - 1
    with runtime.engine.begin() as connection:
        without_append_only_triggers(connection)
        connection.execute(text("UPDATE audit_events SET reason = 'nothing' WHERE seq = 2"))
    report = client.get("/audit/verify", headers=auditor_headers).json()
    assert not report["ok"]
    assert report["first_broken"] == {
        "problem": "hash-mismatch",
        "seq": 2,
        "detail": "the event's content does not match its hash",
    }
    verifications = [e for e in all_events(runtime) if e.action == "verify-audit"]
    assert [e.details["ok"] for e in verifications] == [True, False]


def test_checkpoints_verify_with_the_published_keys(
    client: TestClient, runtime: Runtime, stored: Stored, auditor_headers: dict[str, str]
) -> None:
    with runtime.units() as uow:
        entry = AuditEntry(OPERATOR, AuditAction.CHECKPOINT_AUDIT, AuditDecision.ALLOW, "checkpoint", 200)
        create_checkpoint(uow.session, runtime.signing_key, entry)
    [checkpoint] = client.get("/audit/checkpoints", headers=auditor_headers).json()
    keys = {key["kid"]: key for key in client.get("/.well-known/jwks.json").json()["keys"]}
    signature = base64.urlsafe_b64decode(checkpoint["signature"] + "=" * (-len(checkpoint["signature"]) % 4))
    created = dt.datetime.fromisoformat(checkpoint["created_at"])
    message = checkpoint_message(checkpoint["seq"], checkpoint["hash"], created)
    assert verify_bytes(keys[checkpoint["key_id"]], message, signature)
    [signed] = [e for e in all_events(runtime) if e.seq == checkpoint["seq"]]
    assert (signed.action, signed.hash) == ("checkpoint-audit", checkpoint["hash"])


def test_the_service_signs_a_checkpoint_every_interval_of_events(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder, "CHECKPOINT_INTERVAL", 4)  # instead of making 1000 requests
    for _ in range(9):
        client.get("/dicomweb/studies", headers=hospital_a.headers)
    with runtime.engine.connect() as connection:
        signed = connection.execute(text("SELECT seq FROM audit_checkpoints ORDER BY seq")).scalars().all()
    assert signed == [4, 8]
    report = verify(runtime)
    assert report.ok and report.checkpoints_checked == 2


def test_fhir_export_validates_and_is_itself_recorded(
    client: TestClient, runtime: Runtime, hospital_b: Hospital, stored: Stored, auditor_headers: dict[str, str]
) -> None:
    client.get(f"/dicomweb/studies/{stored.study_uid}", headers=hospital_b.headers)  # one denial in the export
    expected = last_seq(runtime)
    response = client.get("/audit/export", headers=auditor_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    bundle = Bundle.model_validate(body)  # FHIR R4 structure, types and cardinalities
    assert bundle.type == "collection" and bundle.entry is not None and len(bundle.entry) == expected
    assert all(isinstance(entry.resource, AuditEvent) for entry in bundle.entry)
    events = {entry["resource"]["id"]: entry["resource"] for entry in body["entry"]}
    upload = next(e for e in events.values() if e["subtype"][0]["code"] == "upload")
    assert (upload["type"]["code"], upload["action"], upload["outcome"]) == ("110107", "C", "0")
    requestor = upload["agent"][0]
    assert requestor["who"]["identifier"]["value"] == "client:HOSP-A" and requestor["requestor"]
    assert requestor["policy"] == ["urn:imaging-cloud:audit:basis:own-institution"]
    identifiers = {e["what"]["identifier"]["value"] for e in upload["entity"]}
    assert f"urn:oid:{stored.study_uid}" in identifiers and stored.pseudonym in identifiers
    denial = events[str(expected)]
    assert (denial["outcome"], denial["agent"][0]["who"]["identifier"]["value"]) == ("4", "client:HOSP-B")
    chain = {
        ext["url"].rsplit(":", 1)[1]: ext.get("valueString", ext.get("valueInteger")) for ext in denial["extension"]
    }
    assert chain["seq"] == expected and len(chain["hash"]) == 64

    export = events_after(runtime, expected)
    assert [(e.action, e.details["format"], e.details["results"]) for e in export] == [
        ("export-audit", "fhir", expected)
    ]


def test_ndjson_and_csv_exports(
    client: TestClient, runtime: Runtime, stored: Stored, auditor_headers: dict[str, str]
) -> None:
    ndjson = client.get("/audit/export", params={"format": "ndjson", "action": "upload"}, headers=auditor_headers)
    assert ndjson.headers["content-type"].startswith("application/fhir+ndjson")
    lines = ndjson.text.splitlines()
    assert len(lines) == 1
    resource = json.loads(lines[0])
    AuditEvent.model_validate(resource)
    assert resource["subtype"][0]["code"] == "upload"

    exported = client.get("/audit/export", params={"format": "csv", "limit": 3}, headers=auditor_headers)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(row["seq"]) for row in rows] == [1, 2, 3] and exported.headers["X-Last-Seq"] == "3"
    assert rows[0]["action"] == "register-xref" and json.loads(rows[1]["details"])["stored"] == 2
    formats = [e.details["format"] for e in all_events(runtime) if e.action == "export-audit"]
    assert formats == ["ndjson", "csv"]
