"""fsck finds every disagreement between the object store and the index, and repair leaves them agreeing.

Each inconsistency is made directly (an object written with no row, an object deleted behind its row, bytes
corrupted in place) on data ingested through the real STOW-RS path, on the local store and on S3 (SeaweedFS).
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset
from sqlalchemy import func, select

from imaging_cloud.app import create_app
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_study
from imaging_cloud.reports.models import Report
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings
from imaging_cloud.storage.fsck import run_fsck
from imaging_cloud.storage.protocol import ObjectStore, instance_key, report_key
from imaging_cloud.studies.models import Instance, Series, Study
from tests.conftest import Hospital, add_hospital, register
from tests.stow_client import stow_body

SMALL_CT = StudySpec("CT", "CHEST", "胸部CT平扫", instances=3, rows=32, columns=32)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def fsck_runtime(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Runtime]:
    store: ObjectStore | None = request.getfixturevalue("s3_store") if request.param == "s3" else None
    runtime = Runtime.build(settings, store=store)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def fsck_client(fsck_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=fsck_runtime)) as client:
        yield client


@pytest.fixture
def hospital(fsck_runtime: Runtime) -> Hospital:
    return add_hospital(fsck_runtime, "HOSP-F", "山西示例医院丙")


def _ingest(
    client: TestClient, hospital: Hospital, patient: SyntheticPatient, datasets: list[Dataset] | None = None
) -> list[str]:
    """Store one small study over STOW-RS; returns the object keys of its instances."""
    register(client, hospital, patient, "MRN-FSCK")
    body, content_type = stow_body(datasets or make_study(patient, SMALL_CT, patient_id="MRN-FSCK"))
    response = client.post(
        "/dicomweb/studies", content=body, headers={**hospital.headers, "Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    return [
        instance_key(
            item["00081190"]["Value"][0].split("/studies/")[1].split("/")[0],
            item["00081190"]["Value"][0].split("/series/")[1].split("/")[0],
            item["00081155"]["Value"][0],
        )
        for item in response.json()["00081199"]["Value"]
    ]


def _rows(runtime: Runtime) -> tuple[int, int, int, int]:
    with runtime.units.read_only() as session:
        counts = [session.scalar(select(func.count()).select_from(m)) or 0 for m in (Study, Series, Instance, Report)]
    return counts[0], counts[1], counts[2], counts[3]


def _overwrite(store: ObjectStore, key: str, data: bytes) -> None:
    store.put(key, io.BytesIO(data), size=len(data))


def _read(store: ObjectStore, key: str) -> bytes:
    with store.open(key) as handle:
        return handle.read()


def test_clean_archive_after_ingest_reports_clean(
    fsck_client: TestClient, fsck_runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> None:
    keys = _ingest(fsck_client, hospital, patient)
    report = run_fsck(fsck_runtime, repair=False, batch_size=2)
    assert report.clean
    assert report.objects_checked == len(keys) == 3
    assert report.rows_checked == 3
    assert report.to_dict()["clean"] is True


def test_orphan_object_is_reported_and_deleted_on_repair(
    fsck_client: TestClient, fsck_runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> None:
    _ingest(fsck_client, hospital, patient)
    orphan = instance_key("2.25.1", "2.25.2", "2.25.3")
    _overwrite(fsck_runtime.store, orphan, b"DICM left behind by a crash")
    outside = "quarantine/not-fscks-business.bin"
    _overwrite(fsck_runtime.store, outside, b"x")

    found = run_fsck(fsck_runtime, repair=False)
    assert found.orphan_objects == [orphan]
    assert not found.clean
    assert fsck_runtime.store.exists(orphan), "without --repair nothing changes"

    repaired = run_fsck(fsck_runtime, repair=True, orphan_grace_seconds=0)
    assert repaired.deleted_objects == [orphan]
    assert not fsck_runtime.store.exists(orphan)
    assert fsck_runtime.store.exists(outside), "only the studies/ prefix is the index's"
    assert _rows(fsck_runtime) == (1, 1, 3, 0)
    assert run_fsck(fsck_runtime, repair=False).clean


def test_missing_object_is_reported_and_its_row_deleted_on_repair(
    fsck_client: TestClient, fsck_runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> None:
    keys = _ingest(fsck_client, hospital, patient)
    fsck_runtime.store.delete(keys[1])

    found = run_fsck(fsck_runtime, repair=False, batch_size=2)
    assert [(ref.table, ref.key) for ref in found.missing_objects] == [("instances", keys[1])]
    assert _rows(fsck_runtime) == (1, 1, 3, 0)

    repaired = run_fsck(fsck_runtime, repair=True, batch_size=2)
    assert [ref.key for ref in repaired.deleted_rows] == [keys[1]]
    assert repaired.deleted_series == repaired.deleted_studies == 0
    assert _rows(fsck_runtime) == (1, 1, 2, 0)
    assert run_fsck(fsck_runtime, repair=False).clean


def test_rows_of_a_study_whose_objects_are_all_gone_are_deleted_with_the_study(
    fsck_client: TestClient, fsck_runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> None:
    keys = _ingest(fsck_client, hospital, patient)
    for key in keys:
        fsck_runtime.store.delete(key)

    repaired = run_fsck(fsck_runtime, repair=True)
    assert len(repaired.missing_objects) == 3
    assert (repaired.deleted_series, repaired.deleted_studies) == (1, 1)
    assert _rows(fsck_runtime) == (0, 0, 0, 0)
    assert run_fsck(fsck_runtime, repair=False).clean


def test_reupload_after_repair_restores_the_instance(
    fsck_client: TestClient, fsck_runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> None:
    datasets = list(make_study(patient, SMALL_CT, patient_id="MRN-FSCK"))
    keys = _ingest(fsck_client, hospital, patient, datasets)
    fsck_runtime.store.delete(keys[0])
    run_fsck(fsck_runtime, repair=True)
    assert _ingest(fsck_client, hospital, patient, datasets) == keys  # same keyed UIDs, stored afresh
    assert fsck_runtime.store.exists(keys[0])
    assert run_fsck(fsck_runtime, repair=False).clean


def test_corrupt_objects_are_reported_by_size_and_hash_and_removed_on_repair(
    fsck_client: TestClient, fsck_runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> None:
    keys = _ingest(fsck_client, hospital, patient)
    store = fsck_runtime.store
    flipped = bytearray(_read(store, keys[0]))
    flipped[-1] ^= 0xFF
    _overwrite(store, keys[0], bytes(flipped))  # same size, different bytes
    _overwrite(store, keys[2], _read(store, keys[2]) + b"\x00\x00")  # two bytes longer

    found = run_fsck(fsck_runtime, repair=False, batch_size=2)
    assert [m.row.key for m in found.hash_mismatches] == [keys[0]]
    assert [m.row.key for m in found.size_mismatches] == [keys[2]]
    assert int(found.size_mismatches[0].actual) == int(found.size_mismatches[0].expected) + 2
    assert not found.orphan_objects and not found.missing_objects

    unhashed = run_fsck(fsck_runtime, repair=False, check_hashes=False)
    assert not unhashed.hash_mismatches and len(unhashed.size_mismatches) == 1

    repaired = run_fsck(fsck_runtime, repair=True)
    assert sorted(repaired.deleted_objects) == sorted([keys[0], keys[2]])
    assert not store.exists(keys[0]) and not store.exists(keys[2]) and store.exists(keys[1])
    assert _rows(fsck_runtime) == (1, 1, 1, 0)
    assert run_fsck(fsck_runtime, repair=False).clean


def test_missing_report_object_deletes_the_report_row_but_keeps_the_study(
    fsck_client: TestClient, fsck_runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> None:
    _ingest(fsck_client, hospital, patient)
    with fsck_runtime.units() as uow:
        study = uow.session.scalars(select(Study)).one()
        key = report_key(study.study_uid, "2.25.99", "txt")
        uow.session.add(
            Report(
                report_uid="2.25.99",
                study_id=study.id,
                institution_id=hospital.institution_id,
                kind="text",
                content_type="text/plain; charset=utf-8",
                object_key=key,
                size=3,
                sha256="0" * 64,
            )
        )
    found = run_fsck(fsck_runtime, repair=False)
    assert [(ref.table, ref.key) for ref in found.missing_objects] == [("reports", key)]

    run_fsck(fsck_runtime, repair=True)
    assert _rows(fsck_runtime) == (1, 1, 3, 0)
    assert run_fsck(fsck_runtime, repair=False).clean


def test_object_indexed_while_repair_waits_is_not_deleted(
    fsck_client: TestClient, fsck_runtime: Runtime, hospital: Hospital, patient: SyntheticPatient
) -> None:
    """An upload between put and commit looks like an orphan; the grace period and re-check keep it."""
    _ingest(fsck_client, hospital, patient)
    with fsck_runtime.units.read_only() as session:
        study = session.scalars(select(Study)).one()
        study_id, study_uid = study.id, study.study_uid
    key = report_key(study_uid, "2.25.42", "txt")
    _overwrite(fsck_runtime.store, key, b"abc")
    result: list[object] = []
    fsck = threading.Thread(target=lambda: result.append(run_fsck(fsck_runtime, repair=True, orphan_grace_seconds=1.5)))
    fsck.start()
    time.sleep(0.3)  # fsck has listed the object by now and waits out the grace period
    with fsck_runtime.units() as uow:
        uow.session.add(
            Report(
                report_uid="2.25.42",
                study_id=study_id,
                institution_id=hospital.institution_id,
                kind="text",
                content_type="text/plain; charset=utf-8",
                object_key=key,
                size=3,
                sha256="ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            )
        )
    fsck.join(timeout=30)
    (report,) = result
    assert report.orphan_objects == [key]  # type: ignore[attr-defined]
    assert report.deleted_objects == []  # type: ignore[attr-defined]
    assert fsck_runtime.store.exists(key)
    assert run_fsck(fsck_runtime, repair=False).clean
