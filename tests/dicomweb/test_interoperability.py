"""Interoperability: the PyPI ``dicomweb-client`` stores, searches and retrieves against the app served by uvicorn."""

from __future__ import annotations

import datetime as dt
import io
from urllib.parse import urlsplit

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from fastapi.testclient import TestClient
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import RLELossless

from imaging_cloud.demo.synthetic import SyntheticPatient, to_bytes
from tests.conftest import Hospital, register
from tests.dicomweb.conftest import SMALL_CT, SMALL_US, study_of


def _client(live_server: str, hospital: Hospital) -> DICOMwebClient:
    return DICOMwebClient(url=f"{live_server}/dicomweb", headers=hospital.headers)


def _as_read_from_file(ds: Dataset) -> Dataset:
    """The dataset as a hospital holds it: read from a Part 10 file (dicomweb-client re-writes what it is given,
    and keeps the 128-byte preamble only if the dataset has one)."""
    return pydicom.dcmread(io.BytesIO(to_bytes(ds)))


def test_dicomweb_client_stores_searches_and_retrieves(
    live_server: str,
    client: TestClient,
    hospital_a: Hospital,
    hospital_b: Hospital,
    patient: SyntheticPatient,
) -> None:
    pseudonym = register(client, hospital_a, patient, "MRN-001")
    dicomweb = _client(live_server, hospital_a)
    ct = [_as_read_from_file(ds) for ds in study_of(patient, SMALL_CT, "MRN-001", dt.date(2025, 2, 1), seed=11)]
    [us] = study_of(patient, SMALL_US, "MRN-001", dt.date(2025, 7, 1), seed=12)
    us.compress(RLELossless)
    us = _as_read_from_file(us)

    stored = dicomweb.store_instances(ct)
    assert len(stored.ReferencedSOPSequence) == 3
    assert "FailedSOPSequence" not in stored
    assert len(dicomweb.store_instances([us]).ReferencedSOPSequence) == 1

    # QIDO-RS
    studies = dicomweb.search_for_studies(search_filters={"StudyDate": "20250101-20250301"}, fields=["all"])
    assert len(studies) == 1
    study = Dataset.from_json(studies[0])
    assert study.PatientID == pseudonym
    assert study.ModalitiesInStudy == "CT"
    assert study.NumberOfStudyRelatedInstances == 3
    study_uid = study.StudyInstanceUID
    everything = dicomweb.search_for_studies(limit=1, get_remaining=True)
    assert len(everything) == 2
    fuzzy = dicomweb.search_for_studies(fuzzymatching=True, search_filters={"StudyDescription": "us"})
    assert [Dataset.from_json(s).ModalitiesInStudy for s in fuzzy] == ["US"]
    [series_json] = dicomweb.search_for_series(study_uid)
    series_uid = Dataset.from_json(series_json).SeriesInstanceUID
    assert len(dicomweb.search_for_series(search_filters={"Modality": "US"})) == 1
    instances = [Dataset.from_json(i) for i in dicomweb.search_for_instances(study_uid, series_uid)]
    assert [i.InstanceNumber for i in instances] == [1, 2, 3]
    sop_uid = instances[0].SOPInstanceUID

    # WADO-RS
    retrieved_study = dicomweb.retrieve_study(study_uid)
    assert sorted(ds.SOPInstanceUID for ds in retrieved_study) == sorted(i.SOPInstanceUID for i in instances)
    assert {ds.PatientID for ds in retrieved_study} == {pseudonym}
    assert len(dicomweb.retrieve_series(study_uid, series_uid)) == 3
    instance = dicomweb.retrieve_instance(study_uid, series_uid, sop_uid)
    assert instance.SOPInstanceUID == sop_uid
    assert patient.name_zh not in str(instance.get("PatientName", ""))

    metadata = dicomweb.retrieve_instance_metadata(study_uid, series_uid, sop_uid)
    assert metadata["00100020"]["Value"] == [pseudonym]
    assert len(dicomweb.retrieve_study_metadata(study_uid)) == 3

    [frame] = dicomweb.retrieve_instance_frames(study_uid, series_uid, sop_uid, frame_numbers=[1])
    assert frame == instance.pixel_array.astype("<u2").tobytes()
    [frame] = dicomweb.retrieve_instance_frames(
        study_uid, series_uid, sop_uid, frame_numbers=[1], media_types=("application/octet-stream",)
    )
    assert len(frame) == 64 * 64 * 2
    # dicomweb-client sends "Host" without the port on non-streamed requests, and absolute URLs are built from
    # Host, so the URI names port 80 here; on a standard port (production) it is usable as it stands.
    bulk_uri = urlsplit(metadata["7FE00010"]["BulkDataURI"])
    assert bulk_uri.path == f"/dicomweb/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/bulkdata/7FE00010"
    assert dicomweb.retrieve_bulkdata(live_server + bulk_uri.path) == [frame]

    jpeg = dicomweb.retrieve_instance_rendered(study_uid, series_uid, sop_uid)
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    png = dicomweb.retrieve_instance_rendered(
        study_uid, series_uid, sop_uid, media_types=("image/png",), params={"window": "40,400,linear"}
    )
    assert Image.open(io.BytesIO(png)).size == (64, 64)
    series_png = dicomweb.retrieve_series_rendered(study_uid, series_uid, media_types=("image/png",))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(series_png))), np.asarray(Image.open(io.BytesIO(png))))

    # the compressed multi-frame object: frames decoded by the server, or as stored
    [us_json] = dicomweb.search_for_instances(search_filters={"Modality": "US"})
    us_found = Dataset.from_json(us_json)
    us_uids = (us_found.StudyInstanceUID, us_found.SeriesInstanceUID, us_found.SOPInstanceUID)
    as_stored = dicomweb.retrieve_instance(*us_uids, media_types=(("application/dicom", "*"),))
    assert as_stored.file_meta.TransferSyntaxUID == RLELossless
    decoded = dicomweb.retrieve_instance_frames(*us_uids, frame_numbers=[2, 3])
    assert decoded == [as_stored.pixel_array[1].tobytes(), as_stored.pixel_array[2].tobytes()]
    assert not np.array_equal(as_stored.pixel_array[1], as_stored.pixel_array[2])
    [compressed] = dicomweb.retrieve_instance_frames(
        *us_uids, frame_numbers=[1], media_types=(("image/dicom-rle", RLELossless),)
    )
    assert compressed != decoded[0]

    # another hospital: nothing to find, nothing to read
    other = _client(live_server, hospital_b)
    assert other.search_for_studies() == []
    with pytest.raises(requests.HTTPError) as error:
        other.retrieve_instance(study_uid, series_uid, sop_uid)
    assert error.value.response.status_code == 404
