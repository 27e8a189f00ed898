"""The SCP with pynetdicom as the sender: admission by AE title, C-ECHO, C-STORE statuses, TLS."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    JPEG2000,
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLSLossless,
)
from pynetdicom import AllStoragePresentationContexts, _config
from pynetdicom.association import Association
from pynetdicom.dsutils import encode, encode_file_meta
from sqlalchemy import func, select, text

from imaging_cloud.demo.synthetic import (
    CR_IMAGE_STORAGE,
    CT_IMAGE_STORAGE,
    MR_IMAGE_STORAGE,
    StudySpec,
    SyntheticPatient,
    make_study,
)
from imaging_cloud.dimse.peers import add_peer
from imaging_cloud.dimse.server import DimseOptions, StorageScp, serve_until_signalled
from imaging_cloud.ingest.service import is_storage_sop_class
from imaging_cloud.runtime import Runtime
from imaging_cloud.studies.models import Instance
from tests.conftest import Hospital, register
from tests.dimse.conftest import VERIFICATION, associate, protocol_only, storage_context

SMALL_CT = StudySpec("CT", "CHEST", "胸部CT平扫", instances=2, rows=64, columns=64)


@protocol_only
def test_echo_from_a_registered_peer_succeeds(scp: StorageScp) -> None:
    association = associate(scp)
    assert association.is_established
    status = association.send_c_echo()
    association.release()
    assert status.Status == 0x0000


@protocol_only
def test_unknown_calling_ae_title_is_rejected_permanently(scp: StorageScp) -> None:
    association = associate(scp, calling="STRANGER")
    assert association.is_rejected
    rejection = association.acceptor.primitive
    assert rejection is not None
    assert (rejection.result, rejection.result_source, rejection.diagnostic) == (0x01, 0x01, 0x03)


@protocol_only
def test_wrong_called_ae_title_is_rejected(scp: StorageScp) -> None:
    association = associate(scp, called="SOMEONEELSE")
    assert association.is_rejected
    rejection = association.acceptor.primitive
    assert rejection is not None
    assert rejection.diagnostic == 0x07


def test_peer_added_while_running_is_admitted(scp: StorageScp, runtime: Runtime, hospital_a: Hospital) -> None:
    assert associate(scp, calling="LATECOMER").is_rejected
    with runtime.units() as uow:
        add_peer(uow.session, "LATECOMER", hospital_a.code)
    association = associate(scp, calling="LATECOMER")
    assert association.is_established
    association.release()


def test_peer_calling_from_another_address_is_rejected(scp: StorageScp, runtime: Runtime, hospital_a: Hospital) -> None:
    with runtime.units() as uow:
        add_peer(uow.session, "PINNED", hospital_a.code, "10.20.30.40")
        add_peer(uow.session, "LOOPBACK", hospital_a.code, "127.0.0.0/8")
    assert associate(scp, calling="PINNED").is_rejected
    association = associate(scp, calling="LOOPBACK")
    assert association.is_established
    association.release()


def _stored_datasets(runtime: Runtime) -> list[Dataset]:
    with runtime.units.read_only() as session:
        keys = list(session.scalars(select(Instance.object_key)))
    datasets: list[Dataset] = []
    for key in keys:
        with runtime.store.open(key) as stream:
            datasets.append(pydicom.dcmread(stream))
    return datasets


def test_stored_instances_are_deidentified_and_searchable(
    scp: StorageScp, runtime: Runtime, client: TestClient, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    pseudonym = register(client, hospital_a, patient, "MRN-D1")
    datasets = list(make_study(patient, SMALL_CT, patient_id="MRN-D1"))
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
    statuses = [association.send_c_store(ds).Status for ds in datasets]
    association.release()
    assert statuses == [0x0000, 0x0000]

    stored = _stored_datasets(runtime)
    assert len(stored) == 2
    assert {str(ds.PatientID) for ds in stored} == {pseudonym}
    assert not {str(ds.SOPInstanceUID) for ds in stored} & {str(ds.SOPInstanceUID) for ds in datasets}
    assert all(patient.national_id not in str(ds) for ds in stored)

    response = client.get("/dicomweb/studies", headers=hospital_a.headers)
    assert response.status_code == 200
    [study] = response.json()
    assert study["00100020"]["Value"] == [pseudonym]


def test_sending_the_same_instance_again_succeeds_without_a_second_copy(
    scp: StorageScp, runtime: Runtime, client: TestClient, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-D2")
    [first, _] = make_study(patient, SMALL_CT, patient_id="MRN-D2")
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
    statuses = [association.send_c_store(first).Status for _ in range(2)]
    association.release()
    assert statuses == [0x0000, 0x0000]
    assert len(_stored_datasets(runtime)) == 1


def test_instance_of_an_unknown_patient_fails_with_c001_and_nothing_is_stored(
    scp: StorageScp, runtime: Runtime, patient: SyntheticPatient
) -> None:
    [dataset, _] = make_study(patient, SMALL_CT, patient_id="NOT-REGISTERED")
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
    status = association.send_c_store(dataset)
    association.release()
    assert status.Status == 0xC001
    assert status.ErrorComment.startswith("unknown-patient:")
    assert _stored_datasets(runtime) == []


def test_patient_registered_at_another_hospital_is_unknown_to_this_peer(
    scp: StorageScp, runtime: Runtime, client: TestClient, hospital_b: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_b, patient, "MRN-B")  # PACS1 stores for hospital A: B's cross-reference is not its own
    [dataset, _] = make_study(patient, SMALL_CT, patient_id="MRN-B")
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
    status = association.send_c_store(dataset)
    association.release()
    assert status.Status == 0xC001


def _send_file(association: Association, path: Path, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    """C-STORE a Part 10 file's data set bytes exactly as they are (the SOP Class and UID come from its File Meta)."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)  # send the bytes, do not decode them
    return association.send_c_store(path)


def _part10(path: Path, sop_class: str, dataset_bytes: bytes) -> Path:
    """A file whose File Meta names ``sop_class`` in explicit VR little endian, followed by ``dataset_bytes``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID("1.2.826.0.1.3680043.8.498.1")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    with path.open("wb") as stream:
        stream.write(b"\x00" * 128 + b"DICM" + encode_file_meta(meta) + dataset_bytes)
    return path


def _on_the_wire(dataset: Dataset) -> bytes:
    """The data set as a C-STORE carries it in explicit VR little endian (no preamble, no meta)."""
    encoded = encode(dataset, False, True)
    assert encoded is not None
    return encoded


@protocol_only
def test_garbage_data_set_fails_with_c000_and_the_association_stays_usable(
    scp: StorageScp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    garbage = _part10(tmp_path / "garbage.dcm", CT_IMAGE_STORAGE, b"\x08\x00\x18\x00UI\xff\x7f" + b"garbage" * 10)
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE), (VERIFICATION, [ImplicitVRLittleEndian])])
    response = _send_file(association, garbage, monkeypatch)
    echo = association.send_c_echo()
    association.release()
    assert response.Status == 0xC000
    assert str(response.ErrorComment).startswith("cannot-understand:")
    assert echo.Status == 0x0000


def test_data_set_of_a_non_storage_sop_class_fails_with_a900(
    scp: StorageScp,
    client: TestClient,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(client, hospital_a, patient, "MRN-D3")
    [dataset, _] = make_study(patient, SMALL_CT, patient_id="MRN-D3")
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.31"  # Modality Worklist: not something one stores
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
    path = _part10(tmp_path / "worklist.dcm", CT_IMAGE_STORAGE, _on_the_wire(dataset))
    response = _send_file(association, path, monkeypatch)
    association.release()
    assert response.Status == 0xA900
    assert str(response.ErrorComment).startswith("dataset-does-not-match-sop-class:")


def test_data_set_of_another_storage_class_is_stored_with_warning_b007(
    scp: StorageScp,
    runtime: Runtime,
    client: TestClient,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(client, hospital_a, patient, "MRN-D4")
    [dataset] = make_study(patient, replace(SMALL_CT, modality="MR", instances=1), patient_id="MRN-D4")
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
    path = _part10(tmp_path / "mr-as-ct.dcm", CT_IMAGE_STORAGE, _on_the_wire(dataset))
    response = _send_file(association, path, monkeypatch)
    association.release()
    assert response.Status == 0xB007
    [stored] = _stored_datasets(runtime)
    assert stored.SOPClassUID == MR_IMAGE_STORAGE


def test_storage_failure_answers_a700_and_leaves_no_index_row(
    scp: StorageScp, runtime: Runtime, client: TestClient, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-D5")
    [dataset, _] = make_study(patient, SMALL_CT, patient_id="MRN-D5")
    objects = runtime.settings.local_store_path
    assert objects is not None
    shutil.rmtree(objects, ignore_errors=True)
    objects.write_bytes(b"")  # the object store's root is now a file: every put fails with an OSError
    association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
    status = association.send_c_store(dataset)
    association.release()
    assert status.Status == 0xA700
    assert status.ErrorComment.startswith("out-of-resources:")
    with runtime.units.read_only() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0


def test_peer_lookup_failure_rejects_the_association_transiently(scp: StorageScp, runtime: Runtime) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(text("DROP TABLE dimse_peers"))
    association = associate(scp)
    assert association.is_rejected
    rejection = association.acceptor.primitive
    assert rejection is not None
    assert (rejection.result, rejection.result_source) == (0x02, 0x01)


@protocol_only
def test_sop_class_the_ingest_would_refuse_is_not_negotiated(scp: StorageScp) -> None:
    refused = next(
        str(cx.abstract_syntax)
        for cx in AllStoragePresentationContexts
        if not is_storage_sop_class(str(cx.abstract_syntax))
    )
    association = associate(scp, contexts=[storage_context(refused), storage_context(CT_IMAGE_STORAGE)])
    accepted = {str(cx.abstract_syntax) for cx in association.accepted_contexts}
    association.release()
    assert accepted == {CT_IMAGE_STORAGE}


@protocol_only
def test_accepted_sockets_have_tcp_nodelay(scp: StorageScp) -> None:
    association = associate(scp)
    [served] = scp.active_associations
    connection = served.dul.socket.socket if served.dul.socket else None
    assert connection is not None
    assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    association.release()


@protocol_only
def test_stop_aborts_associations_that_outlive_the_grace_period(runtime: Runtime, pacs_peer: str) -> None:
    scp = StorageScp(runtime, DimseOptions(port=0))
    scp.start()
    association = associate(scp)
    assert association.is_established
    scp.stop(grace_seconds=0.2)
    association.join(timeout=5)
    assert association.is_aborted
    assert scp.active_associations == []


@protocol_only
def test_connection_closed_before_associating_leaves_no_association_behind(scp: StorageScp) -> None:
    for _ in range(3):  # what a load balancer's TCP health check does
        socket.create_connection(scp.address).close()
    time.sleep(0.5)
    assert scp.active_associations == []
    association = associate(scp)
    assert association.is_established
    association.release()


@protocol_only
def test_stop_is_prompt_while_a_connection_has_not_yet_associated(runtime: Runtime, pacs_peer: str) -> None:
    scp = StorageScp(runtime, DimseOptions(port=0))
    scp.start()
    with socket.create_connection(scp.address):  # connected, silent
        time.sleep(0.2)
        started = time.monotonic()
        scp.stop()
        assert time.monotonic() - started < 2


@protocol_only
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_until_signalled_stops_cleanly_on_signal(
    runtime: Runtime, pacs_peer: str, stop_signal: signal.Signals
) -> None:
    scp = StorageScp(runtime, DimseOptions(port=0))
    previous = signal.getsignal(stop_signal)
    echoes: list[int] = []

    def echo_then_signal() -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                scp.address  # noqa: B018 (raises until the SCP listens)
                break
            except RuntimeError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        association = associate(scp)
        echoes.append(int(association.send_c_echo().Status))
        association.release()
        os.kill(os.getpid(), stop_signal)

    sender = threading.Thread(target=echo_then_signal)
    sender.start()
    serve_until_signalled(scp)  # returns once the signal arrived and the SCP stopped
    sender.join(timeout=10)
    assert echoes == [0x0000]
    assert scp.active_associations == []
    with pytest.raises(RuntimeError):
        scp.address  # noqa: B018 (stopped: no longer listening)
    assert signal.getsignal(stop_signal) == previous


@protocol_only
def test_scp_prefers_what_the_sender_offered_losslessly(scp: StorageScp) -> None:
    association = associate(
        scp,
        contexts=[
            (CT_IMAGE_STORAGE, (JPEGBaseline8Bit, ExplicitVRLittleEndian)),
            (MR_IMAGE_STORAGE, (JPEG2000, JPEGLSLossless)),
            (CR_IMAGE_STORAGE, (JPEGBaseline8Bit,)),
        ],
    )
    accepted = {str(cx.abstract_syntax): str(cx.transfer_syntax[0]) for cx in association.accepted_contexts}
    association.release()
    assert accepted == {
        CT_IMAGE_STORAGE: ExplicitVRLittleEndian,
        MR_IMAGE_STORAGE: JPEGLSLossless,
        CR_IMAGE_STORAGE: JPEGBaseline8Bit,  # a lossy original offered alone is still accepted
    }


def test_parallel_associations_store_one_study_together(
    scp: StorageScp, runtime: Runtime, client: TestClient, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-PAR")
    datasets = list(make_study(patient, replace(SMALL_CT, instances=6), patient_id="MRN-PAR"))
    statuses: list[int] = []

    def send(part: list[Dataset]) -> None:
        association = associate(scp, contexts=[storage_context(CT_IMAGE_STORAGE)])
        statuses.extend(int(association.send_c_store(ds).Status) for ds in part)
        association.release()

    senders = [threading.Thread(target=send, args=(datasets[i::2],)) for i in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=60)
    assert statuses == [0x0000] * 6
    [study] = client.get("/dicomweb/studies", headers=hospital_a.headers).json()
    assert study["00201208"]["Value"] == [6]
