"""The whole ingest path on the production shape: STOW-RS into a real S3 server (SeaweedFS), index on each backend."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pydicom
import pytest
from fastapi.testclient import TestClient

from imaging_cloud.app import create_app
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_study, to_bytes
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings
from imaging_cloud.storage.fsck import run_fsck
from imaging_cloud.storage.s3 import S3ObjectStore
from tests.conftest import Hospital, add_hospital, register
from tests.stow_client import multipart_body

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_runtime(settings: Settings, s3_store: S3ObjectStore) -> Iterator[Runtime]:
    runtime = Runtime.build(settings, store=s3_store)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def s3_client(s3_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=s3_runtime)) as client:
        yield client


def test_stow_then_wado_through_s3(s3_client: TestClient, s3_runtime: Runtime, patient: SyntheticPatient) -> None:
    hospital: Hospital = add_hospital(s3_runtime, "S3-HOSP", "对象存储医院")
    pseudonym = register(s3_client, hospital, patient, "S3-MRN")
    datasets = list(make_study(patient, StudySpec("CT", "CHEST", "胸部", 2, rows=64, columns=64), patient_id="S3-MRN"))
    body, content_type = multipart_body([*(to_bytes(ds) for ds in datasets), b"not dicom"])
    response = s3_client.post(
        "/dicomweb/studies", content=body, headers={**hospital.headers, "Content-Type": content_type}
    )
    assert response.status_code == 202
    stored = response.json()["00081199"]["Value"]
    url = stored[0]["00081190"]["Value"][0]
    path = url[url.index("/dicomweb/") :]
    retrieved = s3_client.get(
        path, headers={**hospital.headers, "Accept": 'multipart/related; type="application/dicom"'}
    )
    assert retrieved.status_code == 200
    part = retrieved.content.split(b"\r\n\r\n", 1)[1]
    assert pydicom.dcmread(io.BytesIO(part)).PatientID == pseudonym
    keys = [o.key for o in s3_runtime.store.iter("studies/")]
    assert len(keys) == 2 and all(k.startswith("studies/2.25.") for k in keys)
    assert run_fsck(s3_runtime, repair=False, orphan_grace_seconds=0).clean


def test_failed_index_write_removes_the_s3_object(s3_runtime: Runtime) -> None:
    """Compensation: the unit of work deletes what it wrote when its transaction rolls back."""
    with pytest.raises(RuntimeError), s3_runtime.units() as uow:
        uow.wrote("studies/2.25.1/series/2.25.2/instances/2.25.3.dcm")
        s3_runtime.store.put("studies/2.25.1/series/2.25.2/instances/2.25.3.dcm", io.BytesIO(b"x" * 10), size=10)
        raise RuntimeError("the index insert failed")
    assert list(s3_runtime.store.iter("")) == []
