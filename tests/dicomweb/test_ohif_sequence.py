"""The request sequence OHIF Viewer v3's DICOMweb data source issues to list and open a study, with a bearer token.

Study list (QIDO with OHIF's includefields and paging), then the opened study's series (QIDO), each series'
metadata (WADO-RS), and frames through cornerstone's WADO-RS image loader with its default Accept header.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from imaging_cloud.demo.synthetic import SyntheticPatient, make_study
from tests.conftest import Hospital, register
from tests.dicomweb.conftest import SMALL_CT, SMALL_US, multipart_parts, upload

OHIF_FRAME_ACCEPT = "multipart/related; type=application/octet-stream; transfer-syntax=*"


def _value(item: dict, tag: str) -> object:
    return item[tag]["Value"][0]


def test_ohif_opens_a_study(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> None:
    register(client, hospital_a, patient, "MRN-OHIF")
    ct = upload(client, hospital_a, make_study(patient, SMALL_CT, patient_id="MRN-OHIF"))
    upload(client, hospital_a, make_study(patient, SMALL_US, patient_id="MRN-OHIF"))
    auth = {**hospital_a.headers, "Accept": "application/dicom+json"}

    studies = client.get(
        "/dicomweb/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060", headers=auth
    )
    assert studies.status_code == 200
    assert studies.headers["content-type"].startswith("application/dicom+json")
    listed = {str(_value(s, "0020000D")): s for s in studies.json()}
    assert ct.study_uid in listed
    ct_study = listed[ct.study_uid]
    for tag in ("00081030", "00080061", "00100020", "00201208", "00080020"):
        assert tag in ct_study, f"study list lacks {tag}"
    assert _value(ct_study, "00201208") == 3

    series = client.get(f"/dicomweb/studies/{ct.study_uid}/series", headers=auth)
    assert series.status_code == 200
    series_uids = [str(_value(s, "0020000E")) for s in series.json()]
    assert series_uids == [ct.series_uid]

    metadata = client.get(f"/dicomweb/studies/{ct.study_uid}/series/{ct.series_uid}/metadata", headers=auth)
    assert metadata.status_code == 200
    instances = metadata.json()
    assert len(instances) == 3
    first = instances[0]
    for tag in ("00280010", "00280011", "00280100", "00281050", "00281051", "00281052", "00281053", "00200032"):
        assert tag in first, f"instance metadata lacks {tag}"
    assert "BulkDataURI" in first["7FE00010"]

    sop_uid = str(_value(first, "00080018"))
    frame = client.get(
        f"/dicomweb/studies/{ct.study_uid}/series/{ct.series_uid}/instances/{sop_uid}/frames/1",
        headers={**hospital_a.headers, "Accept": OHIF_FRAME_ACCEPT},
    )
    assert frame.status_code == 200
    assert frame.headers["content-type"].startswith("multipart/related")
    parts = multipart_parts(frame.headers["content-type"], frame.content)
    assert len(parts) == 1
    assert len(parts[0].content) == 64 * 64 * 2


def test_ohif_without_a_token_is_refused(client: TestClient) -> None:
    response = client.get("/dicomweb/studies?limit=101&offset=0&includefield=00081030%2C00080060")
    assert response.status_code == 401
