"""Every DIMSE association (accepted or rejected), C-ECHO and C-STORE is an audit event in the same chain, named by
the calling AE title and its institution, with de-identified UIDs only."""

from __future__ import annotations

import json
import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.audit.verify import verify_chain
from imaging_cloud.demo.synthetic import CT_IMAGE_STORAGE, SyntheticPatient, make_study
from imaging_cloud.dimse.server import StorageScp
from imaging_cloud.runtime import Runtime
from imaging_cloud.studies.models import Instance
from tests.conftest import Hospital, register
from tests.dimse.conftest import PEER_AE, associate, storage_context
from tests.dimse.test_server import SMALL_CT


def _dimse_events(runtime: Runtime, at_least: int = 0) -> list[AccessEvent]:
    """The DIMSE events so far; waits (briefly) for ``at_least``: a rejection is recorded after it is sent."""
    deadline = time.monotonic() + 5
    while True:
        with runtime.sessions() as session:
            query = select(AccessEvent).where(AccessEvent.action.like("dimse-%")).order_by(AccessEvent.seq)
            events = list(session.scalars(query))
        if len(events) >= at_least or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_an_accepted_association_and_its_echo_are_recorded_for_the_peers_institution(
    scp: StorageScp, runtime: Runtime, hospital_a: Hospital
) -> None:
    association = associate(scp)
    assert association.send_c_echo().Status == 0x0000
    association.release()
    accepted, echo = _dimse_events(runtime)
    assert (accepted.action, accepted.decision, accepted.basis) == ("dimse-association", "allow", "dimse-peer")
    assert (accepted.actor, accepted.actor_role, accepted.institution) == (f"dimse:{PEER_AE}", "hospital", "HOSP-A")
    assert (accepted.target_kind, accepted.target_id, accepted.details) == (
        "ae-title",
        PEER_AE,
        {"called_ae": scp.ae_title, "tls": False},
    )
    assert (echo.action, echo.decision, echo.institution) == ("dimse-echo", "allow", "HOSP-A")
    assert echo.request_id == accepted.request_id and accepted.client_address == "127.0.0.1"


def test_rejected_associations_are_recorded_as_denials(scp: StorageScp, runtime: Runtime) -> None:
    assert associate(scp, calling="STRANGER").is_rejected
    _dimse_events(runtime, at_least=1)  # in order
    assert associate(scp, called="SOMEONEELSE").is_rejected
    stranger, misdirected = _dimse_events(runtime, at_least=2)
    assert (stranger.actor, stranger.institution, stranger.decision) == ("dimse:STRANGER", None, "deny")
    assert stranger.outcome == "calling-ae-title-not-recognised" and stranger.basis is None
    assert (misdirected.actor, misdirected.institution, misdirected.decision) == (f"dimse:{PEER_AE}", "HOSP-A", "deny")
    assert misdirected.outcome == "called-ae-title-not-recognised"
    assert misdirected.details["called_ae"] == "SOMEONEELSE"


def test_every_instance_stored_or_refused_through_c_store_is_one_event_without_phi(
    scp: StorageScp, runtime: Runtime, client: TestClient, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    pseudonym = register(client, hospital_a, patient, "MRN-AUDIT-D")
    datasets = list(make_study(patient, SMALL_CT, patient_id="MRN-AUDIT-D"))
    [unknown, _] = make_study(patient, SMALL_CT, patient_id="NOT-REGISTERED", seed=3)
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
    statuses = [association.send_c_store(ds).Status for ds in [*datasets, datasets[0], unknown]]
    association.release()
    assert statuses == [0x0000, 0x0000, 0x0000, 0xC001]

    stores = [e for e in _dimse_events(runtime) if e.action == "dimse-store"]
    with runtime.sessions() as session:
        stored_uids = set(session.scalars(select(Instance.sop_uid)))
    assert [(e.decision, e.details["outcome"]) for e in stores] == [
        ("allow", "stored"),
        ("allow", "stored"),
        ("allow", "already-present"),
        ("error", "failed"),
    ]
    assert {e.target_id for e in stores[:3]} == stored_uids
    assert all((e.patient, e.institution, e.target_kind) == (pseudonym, "HOSP-A", "instance") for e in stores[:3])
    refused = stores[3]
    assert (refused.outcome, refused.target_id, refused.patient, refused.details["dimse_status"]) == (
        "unknown-patient",
        None,
        None,
        0xC001,
    )
    trail = json.dumps([[e.details, e.reason, e.target_id, e.outcome] for e in _dimse_events(runtime)])
    originals = {str(ds.SOPInstanceUID) for ds in [*datasets, unknown]} | {str(datasets[0].StudyInstanceUID)}
    for secret in (*originals, patient.national_id, patient.name_zh, "MRN-AUDIT-D", "NOT-REGISTERED"):
        assert secret not in trail
    key = runtime.signing_key
    with runtime.sessions() as session:
        assert verify_chain(session, {key.kid: key.public_jwk()}).ok
