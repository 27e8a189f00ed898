"""WADO-RS: instances streamed back de-identified, transfer syntax negotiation, metadata, frames, bulk data,
rendered images and thumbnails — and nothing for those who may not see the study."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import numpy as np
import pydicom
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from imaging_cloud.access import visibility
from imaging_cloud.demo.synthetic import SyntheticPatient
from tests.conftest import Hospital, register
from tests.dicomweb.conftest import SMALL_US, TwoStudies, Uploaded, multipart_parts, study_of, upload

DICOM = 'multipart/related; type="application/dicom"'


def _get(client: TestClient, hospital: Hospital, path: str, accept: str | None = None, **params: Any) -> Any:
    headers = {**hospital.headers, **({"Accept": accept} if accept else {})}
    return client.get(path if path.startswith("/dicomweb") else f"/dicomweb{path}", headers=headers, params=params)


def _datasets(response: Any) -> list[pydicom.Dataset]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(DICOM)
    parts = multipart_parts(response.headers["content-type"], response.content)
    return [pydicom.dcmread(io.BytesIO(part.content)) for part in parts]


@pytest.fixture
def compressed_us(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> Uploaded:
    """A 3-frame 64×64 ultrasound object compressed with RLE Lossless before upload."""
    register(client, hospital_a, patient, "MRN-001")
    [ds] = study_of(patient, SMALL_US, "MRN-001", dt.date(2025, 4, 1), seed=5)
    ds.compress(RLELossless)
    return upload(client, hospital_a, [ds])


def test_retrieve_instance_round_trips_de_identified(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies, patient: SyntheticPatient
) -> None:
    ct = two_studies.ct
    response = _get(client, hospital_a, ct.instance_path[len("/dicomweb") :], DICOM)
    [ds] = _datasets(response)
    part = multipart_parts(response.headers["content-type"], response.content)[0]
    assert part.content_type == f"application/dicom; transfer-syntax={ExplicitVRLittleEndian}"
    assert ds.SOPInstanceUID == ct.sop_uid
    assert ds.StudyInstanceUID == ct.study_uid
    assert ds.PatientID == two_studies.pseudonym
    assert ds.pixel_array.shape == (64, 64)
    for identifier in (patient.name_zh, patient.national_id, "MRN-001", patient.phone):
        assert identifier.encode() not in part.content


def test_retrieve_series_and_study_stream_every_instance(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    ct = two_studies.ct
    series = _datasets(_get(client, hospital_a, f"/studies/{ct.study_uid}/series/{ct.series_uid}"))
    study = _datasets(_get(client, hospital_a, f"/studies/{ct.study_uid}", DICOM))
    assert [ds.SOPInstanceUID for ds in series] == list(ct.sop_uids)
    assert [ds.SOPInstanceUID for ds in study] == list(ct.sop_uids)
    assert {ds.PatientID for ds in study} == {two_studies.pseudonym}


def test_transfer_syntax_is_negotiated(client: TestClient, hospital_a: Hospital, compressed_us: Uploaded) -> None:
    path = compressed_us.instance_path
    as_stored = _datasets(_get(client, hospital_a, path, f"{DICOM}; transfer-syntax=*"))[0]
    assert as_stored.file_meta.TransferSyntaxUID == RLELossless
    default = _datasets(_get(client, hospital_a, path, DICOM))[0]
    assert default.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert default.SOPInstanceUID == as_stored.SOPInstanceUID == compressed_us.sop_uid  # decoded, same instance
    implicit = _datasets(_get(client, hospital_a, path, f"{DICOM}; transfer-syntax={ImplicitVRLittleEndian}"))[0]
    assert implicit.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert np.array_equal(as_stored.pixel_array, default.pixel_array)
    assert np.array_equal(as_stored.pixel_array, implicit.pixel_array)
    preferred = f"{DICOM}; transfer-syntax=1.2.840.10008.1.2.4.50, {DICOM}; transfer-syntax={RLELossless}; q=0.5"
    assert _datasets(_get(client, hospital_a, path, preferred))[0].file_meta.TransferSyntaxUID == RLELossless


UNSATISFIABLE = [
    ("", f"{DICOM}; transfer-syntax=1.2.840.10008.1.2.4.50"),
    ("", "application/pdf"),
    ("", 'multipart/related; type="image/jpeg"'),
    ("/metadata", "image/jpeg"),
    ("/frames/1", 'multipart/related; type="image/jpeg"'),
    ("/frames/1", f'multipart/related; type="application/octet-stream"; transfer-syntax={RLELossless}'),
    ("/rendered", "image/gif"),
    ("/thumbnail", "application/dicom"),
]


def test_unsatisfiable_accept_is_406(client: TestClient, hospital_a: Hospital, two_studies: TwoStudies) -> None:
    for suffix, accept in UNSATISFIABLE:
        response = _get(client, hospital_a, two_studies.ct.instance_path + suffix, accept)
        assert (response.status_code, response.json()["code"]) == (406, "not-acceptable"), (suffix, accept)


def test_metadata_at_three_levels_points_pixel_data_to_bulk_data(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    ct = two_studies.ct
    paths = [
        f"/studies/{ct.study_uid}/metadata",
        f"/studies/{ct.study_uid}/series/{ct.series_uid}/metadata",
        ct.instance_path + "/metadata",
    ]
    bodies = []
    for path, count in zip(paths, (3, 3, 1), strict=True):
        response = _get(client, hospital_a, path, "application/dicom+json")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/dicom+json")
        assert len(response.json()) == count
        bodies.append(response.json())
    [instance] = bodies[2]
    assert instance["00080018"]["Value"] == [ct.sop_uid]
    assert instance["00100020"]["Value"] == [two_studies.pseudonym]
    assert instance["00280010"]["Value"] == [64]
    pixel_data = instance["7FE00010"]
    assert pixel_data["vr"] == "OW"
    bulk_uri = pixel_data["BulkDataURI"]
    assert bulk_uri.endswith(ct.instance_path + "/bulkdata/7FE00010")
    bulk = _get(client, hospital_a, bulk_uri[bulk_uri.index("/dicomweb") :])
    assert bulk.status_code == 200
    [part] = multipart_parts(bulk.headers["content-type"], bulk.content)
    assert part.content_type.startswith("application/octet-stream")
    [ds] = _datasets(_get(client, hospital_a, ct.instance_path))
    assert part.content == ds.pixel_array.astype("<u2").tobytes()
    assert _get(client, hospital_a, ct.instance_path + "/bulkdata/00100010").status_code == 404


def test_frames_of_an_uncompressed_instance_are_raw_little_endian(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    ct = two_studies.ct
    response = _get(client, hospital_a, ct.instance_path + "/frames/1")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith('multipart/related; type="application/octet-stream"')
    [part] = multipart_parts(response.headers["content-type"], response.content)
    assert part.content_type == f"application/octet-stream; transfer-syntax={ExplicitVRLittleEndian}"
    [ds] = _datasets(_get(client, hospital_a, ct.instance_path))
    assert part.content == ds.pixel_array.astype("<u2").tobytes()
    assert len(part.content) == 64 * 64 * 2


def test_frames_of_a_compressed_multiframe_instance_are_decoded_or_passed_through(
    client: TestClient, hospital_a: Hospital, compressed_us: Uploaded
) -> None:
    path = compressed_us.instance_path
    [stored] = _datasets(_get(client, hospital_a, path, f"{DICOM}; transfer-syntax=*"))
    frames = stored.pixel_array
    assert frames.shape == (3, 64, 64)

    decoded = _get(client, hospital_a, path + "/frames/3,1", 'multipart/related; type="application/octet-stream"')
    parts = multipart_parts(decoded.headers["content-type"], decoded.content)
    assert [p.content for p in parts] == [frames[2].tobytes(), frames[0].tobytes()]
    assert not np.array_equal(frames[2], frames[0])

    compressed = _get(client, hospital_a, path + "/frames/2", 'multipart/related; type="image/dicom-rle"')
    assert compressed.status_code == 200
    [part] = multipart_parts(compressed.headers["content-type"], compressed.content)
    assert part.content_type == f"image/dicom-rle; transfer-syntax={RLELossless}"
    assert part.content == list(generate_frames(stored.PixelData, number_of_frames=3))[1]

    bulk = _get(client, hospital_a, path + "/bulkdata/7FE00010")
    [whole] = multipart_parts(bulk.headers["content-type"], bulk.content)
    assert whole.content == frames.tobytes()


def test_frame_numbers_out_of_range_are_404_and_malformed_ones_400(
    client: TestClient, hospital_a: Hospital, compressed_us: Uploaded
) -> None:
    for frames, status, code in [
        ("4", 404, "frame-not-found"),
        ("1,9", 404, "frame-not-found"),
        ("0", 400, "invalid-frame-list"),
        ("1-2", 400, "invalid-frame-list"),
    ]:
        response = _get(client, hospital_a, compressed_us.instance_path + f"/frames/{frames}")
        assert (response.status_code, response.json()["code"]) == (status, code), frames


def _image(response: Any, media_type: str = "image/jpeg") -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    image = Image.open(io.BytesIO(response.content))
    assert image.format == {"image/jpeg": "JPEG", "image/png": "PNG"}[media_type]
    return np.asarray(image)


def test_rendered_image_follows_window_format_and_viewport(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    path = two_studies.ct.instance_path + "/rendered"
    stored_window = _image(_get(client, hospital_a, path))  # the object's own window 40/400
    soft_tissue = _image(_get(client, hospital_a, path, "image/png", window="40,400,linear"), "image/png")
    narrow = _image(_get(client, hospital_a, path, "image/png", window="20,10,linear"), "image/png")
    wide = _image(_get(client, hospital_a, path, "image/png", window="0,4000,sigmoid"), "image/png")
    assert stored_window.shape == soft_tissue.shape == (64, 64)
    assert abs(float(stored_window.mean()) - float(soft_tissue.mean())) < 3  # JPEG vs PNG of the same window
    assert narrow.std() > soft_tissue.std() > wide.std()
    assert not np.array_equal(narrow, soft_tissue)
    small = _image(_get(client, hospital_a, path, "image/png", viewport="32,16"), "image/png")
    assert small.shape == (16, 16)
    low_quality = _get(client, hospital_a, path, quality="5")
    assert len(low_quality.content) < len(_get(client, hospital_a, path, quality="95").content)
    bad = _get(client, hospital_a, path, window="40")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid-window")


def test_rendered_frames_of_a_multiframe_instance_differ(
    client: TestClient, hospital_a: Hospital, compressed_us: Uploaded
) -> None:
    path = compressed_us.instance_path
    window = "64,128,linear"  # the synthetic object's own window (1000/600) is beyond its 8-bit samples
    first = _image(_get(client, hospital_a, path + "/frames/1/rendered", "image/png", window=window), "image/png")
    third = _image(_get(client, hospital_a, path + "/frames/3/rendered", "image/png", window=window), "image/png")
    default = _image(_get(client, hospital_a, path + "/rendered", "image/png", window=window), "image/png")
    assert np.array_equal(first, default)
    assert not np.array_equal(first, third)
    assert _get(client, hospital_a, path + "/frames/4/rendered").status_code == 404
    assert _get(client, hospital_a, path + "/frames/1,2/rendered").json()["code"] == "multiple-frames"


def test_study_and_series_rendered_show_their_first_image(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    ct = two_studies.ct
    first = _image(_get(client, hospital_a, ct.instance_path + "/rendered", "image/png"), "image/png")
    study = _image(_get(client, hospital_a, f"/studies/{ct.study_uid}/rendered", "image/png"), "image/png")
    series = _image(
        _get(client, hospital_a, f"/studies/{ct.study_uid}/series/{ct.series_uid}/rendered", "image/png"), "image/png"
    )
    assert np.array_equal(study, first)
    assert np.array_equal(series, first)


def test_thumbnails_at_study_series_and_instance_level(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    ct = two_studies.ct
    for path in (
        f"/studies/{ct.study_uid}/thumbnail",
        f"/studies/{ct.study_uid}/series/{ct.series_uid}/thumbnail",
        ct.instance_path + "/thumbnail",
    ):
        image = _image(_get(client, hospital_a, path))
        assert max(image.shape) <= 128
    big = _image(_get(client, hospital_a, ct.instance_path + "/thumbnail", "image/png"), "image/png")
    assert big.shape == (128, 128)  # 64×64 fitted into the default 128×128 thumbnail viewport


def _read_paths(uploaded: Uploaded) -> list[str]:
    study = f"/studies/{uploaded.study_uid}"
    series = f"{study}/series/{uploaded.series_uid}"
    instance = uploaded.instance_path[len("/dicomweb") :]
    return [
        study,
        series,
        instance,
        f"{study}/metadata",
        f"{series}/metadata",
        f"{instance}/metadata",
        f"{instance}/frames/1",
        f"{instance}/bulkdata/7FE00010",
        f"{study}/rendered",
        f"{series}/rendered",
        f"{instance}/rendered",
        f"{instance}/frames/1/rendered",
        f"{study}/thumbnail",
        f"{series}/thumbnail",
        f"{instance}/thumbnail",
    ]


def test_another_hospital_gets_404_on_every_read_route(
    client: TestClient, hospital_b: Hospital, two_studies: TwoStudies
) -> None:
    for path in _read_paths(two_studies.ct):
        response = _get(client, hospital_b, path)
        assert (response.status_code, response.json()["code"]) == (404, "study-not-found"), path


def test_administrators_never_get_image_bytes(client: TestClient, admin_token: str, two_studies: TwoStudies) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    for path in _read_paths(two_studies.ct):
        response = client.get(f"/dicomweb{path}", headers=headers)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/json"


def test_read_routes_need_a_token(client: TestClient, two_studies: TwoStudies) -> None:
    for path in _read_paths(two_studies.ct):
        assert client.get(f"/dicomweb{path}").status_code == 401, path


def test_another_hospitals_instance_in_a_shared_study_is_404(
    client: TestClient, hospital_a: Hospital, hospital_b: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-A")
    register(client, hospital_b, patient, "MRN-B")
    from_a = study_of(patient, SMALL_US, "MRN-A", dt.date(2025, 3, 1), seed=6)
    a = upload(client, hospital_a, from_a)
    b = upload(
        client,
        hospital_b,
        study_of(patient, SMALL_US, "MRN-B", dt.date(2025, 3, 1), seed=7, study_uid=str(from_a[0].StudyInstanceUID)),
    )
    assert a.study_uid == b.study_uid
    response = _get(client, hospital_b, a.instance_path)
    assert (response.status_code, response.json()["code"]) == (404, "instance-not-found")
    response = _get(client, hospital_b, f"/studies/{a.study_uid}/series/{a.series_uid}/metadata")
    assert (response.status_code, response.json()["code"]) == (404, "series-not-found")
    study = _datasets(_get(client, hospital_b, f"/studies/{b.study_uid}"))
    assert [ds.SOPInstanceUID for ds in study] == [b.sop_uid]
    metadata = _get(client, hospital_b, f"/studies/{b.study_uid}/metadata").json()
    assert [item["00080018"]["Value"][0] for item in metadata] == [b.sop_uid]
    assert _get(client, hospital_b, f"/studies/{b.study_uid}/thumbnail").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "{instance}",  # WADO-RS retrieve
        "{instance}/metadata",
        "/studies/{study}/series/{series}/instances",  # QIDO inside a series of a study
    ],
)
def test_one_request_loads_the_callers_consent_facts_once(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The study's authorization and the instance filter weigh the same facts, loaded a single time."""
    calls: list[object] = []
    real = visibility.load_facts

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(visibility, "load_facts", counting)
    ct = two_studies.ct
    url = path.format(instance=ct.instance_path[len("/dicomweb") :], study=ct.study_uid, series=ct.series_uid)
    response = _get(client, hospital_a, url)
    assert response.status_code == 200, response.text
    assert len(calls) == 1
