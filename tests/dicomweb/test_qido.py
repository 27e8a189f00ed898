"""QIDO-RS: matching at each level, wildcards, fuzzy matching, date ranges, paging, includefield, and visibility."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient
from imaging_cloud.runtime import Runtime
from imaging_cloud.studies.models import Study
from tests.conftest import Hospital, register
from tests.dicomweb.conftest import SMALL_CT, SMALL_MR, TwoStudies, study_of, upload

STUDY_UID = "0020000D"
SERIES_UID = "0020000E"
SOP_UID = "00080018"


def _search(client: TestClient, hospital: Hospital, path: str, params: Any = None) -> list[dict[str, Any]]:
    response = client.get(f"/dicomweb{path}", params=params, headers=hospital.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dicom+json")
    body = response.json()
    assert isinstance(body, list)
    return body


def _values(items: list[dict[str, Any]], tag: str) -> list[Any]:
    return [item[tag]["Value"][0] for item in items]


def _studies(client: TestClient, hospital: Hospital, params: Any = None) -> set[str]:
    return set(_values(_search(client, hospital, "/studies", params), STUDY_UID))


def test_study_search_answers_dicom_json_with_counts_computed_from_the_index(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    found = {item[STUDY_UID]["Value"][0]: item for item in _search(client, hospital_a, "/studies")}
    assert set(found) == {two_studies.ct.study_uid, two_studies.mr.study_uid}
    ct = found[two_studies.ct.study_uid]
    assert ct["00080061"]["Value"] == ["CT"]  # ModalitiesInStudy
    assert ct["00201206"]["Value"] == [1]  # NumberOfStudyRelatedSeries
    assert ct["00201208"]["Value"] == [3]  # NumberOfStudyRelatedInstances
    assert found[two_studies.mr.study_uid]["00201208"]["Value"] == [2]
    assert ct["00100020"]["Value"] == [two_studies.pseudonym]  # PatientID is the pseudonym
    assert ct["00080020"]["Value"] == ["20250201"]
    assert ct["00081190"]["Value"][0].endswith(f"/dicomweb/studies/{two_studies.ct.study_uid}")
    assert "00081030" not in ct  # StudyDescription is not a default attribute
    # newest first
    assert _values(_search(client, hospital_a, "/studies"), STUDY_UID) == [
        two_studies.mr.study_uid,
        two_studies.ct.study_uid,
    ]


MATCHING_CASES: list[tuple[dict[str, str], set[str]]] = [
    ({"ModalitiesInStudy": "CT"}, {"ct"}),
    ({"ModalitiesInStudy": "MR\\US"}, {"mr"}),
    ({"00080061": "CT,MR"}, {"ct", "mr"}),
    ({"StudyDate": "20250101-20250301"}, {"ct"}),
    ({"StudyDate": "20250501-"}, {"mr"}),
    ({"StudyDate": "-20250201"}, {"ct"}),
    ({"StudyDate": "20250601"}, {"mr"}),
    ({"StudyDate": "20240101-20241231"}, set()),
    ({"StudyDescription": "Brain*"}, {"mr"}),
    ({"StudyDescription": "brain mr ROUTINE"}, set()),
    ({"StudyDescription": "b?ain*"}, {"mr"}),
    ({"StudyDescription": "*CT*"}, {"ct"}),
    ({"StudyDescription": "routine"}, set()),
    ({"StudyDescription": "routine", "fuzzymatching": "true"}, {"mr"}),
    ({"StudyDescription": "ct平扫", "fuzzymatching": "true"}, {"ct"}),
    ({"BodyPartExamined": "HEAD"}, {"mr"}),
    ({"Modality": "CT"}, {"ct"}),
    ({"SeriesDescription": "*平扫 CT"}, {"ct"}),
    ({"StudyDescription": "*"}, {"ct", "mr"}),
    ({"StudyDescription": ""}, {"ct", "mr"}),
]


def test_study_matching_keys_ranges_wildcards_and_fuzzy_matching(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    uids = {"ct": two_studies.ct.study_uid, "mr": two_studies.mr.study_uid}
    for params, expected in MATCHING_CASES:
        assert _studies(client, hospital_a, params) == {uids[name] for name in expected}, params


def test_uid_lists_patient_id_and_tags_match(client: TestClient, hospital_a: Hospital, two_studies: TwoStudies) -> None:
    ct, mr = two_studies.ct.study_uid, two_studies.mr.study_uid
    assert _studies(client, hospital_a, {"StudyInstanceUID": f"{ct},{mr}"}) == {ct, mr}
    assert _studies(client, hospital_a, {"StudyInstanceUID": f"{mr}\\1.2.3"}) == {mr}
    assert _studies(client, hospital_a, {"0020000d": ct}) == {ct}
    assert _studies(client, hospital_a, {"PatientID": two_studies.pseudonym}) == {ct, mr}
    assert _studies(client, hospital_a, {"PatientID": two_studies.pseudonym[:4] + "*"}) == {ct, mr}
    assert _studies(client, hospital_a, {"PatientID": "MRN-001"}) == set()  # the hospital's own id is not stored


def test_text_attributes_without_index_columns_match_in_the_stored_json(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    """PatientSex and StudyTime are matched inside the study JSON; SliceThickness inside the instance JSON."""
    [study] = _search(client, hospital_a, "/studies", {"StudyInstanceUID": two_studies.ct.study_uid})
    sex = study["00100040"]["Value"][0]
    assert _studies(client, hospital_a, {"PatientSex": sex}) == {two_studies.ct.study_uid, two_studies.mr.study_uid}
    assert _studies(client, hospital_a, {"PatientSex": "O"}) == set()
    assert _studies(client, hospital_a, {"StudyTime": "0900-1000"}) == {
        two_studies.ct.study_uid,
        two_studies.mr.study_uid,
    }
    assert _studies(client, hospital_a, {"StudyTime": "1000-"}) == set()
    instances = _search(client, hospital_a, "/instances", {"SliceThickness": "5"})
    assert len(instances) == 5
    assert _search(client, hospital_a, "/instances", {"SliceThickness": "2.5"}) == []


def test_limit_and_offset_page_through_results(
    client: TestClient, hospital_a: Hospital, patient: SyntheticPatient
) -> None:
    register(client, hospital_a, patient, "MRN-001")
    one = StudySpec("CR", "CHEST", "Chest CR", instances=1, rows=32, columns=32)
    uploaded = [
        upload(client, hospital_a, study_of(patient, one, "MRN-001", dt.date(2025, 1, day), seed=day))
        for day in (1, 2, 3)
    ]
    everything = _values(_search(client, hospital_a, "/studies"), STUDY_UID)
    assert everything == [u.study_uid for u in reversed(uploaded)]
    first = _values(_search(client, hospital_a, "/studies", {"limit": 2}), STUDY_UID)
    rest = _values(_search(client, hospital_a, "/studies", {"limit": 2, "offset": 2}), STUDY_UID)
    assert first == everything[:2]
    assert rest == everything[2:]
    assert _search(client, hospital_a, "/studies", {"offset": 3}) == []
    response = client.get("/dicomweb/studies", params={"limit": 1}, headers=hospital_a.headers)
    assert "warning" not in response.headers  # the client's own limit is not a truncation


def test_includefield_adds_named_attributes_and_all(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    ct = {"StudyInstanceUID": two_studies.ct.study_uid}
    [default] = _search(client, hospital_a, "/studies", ct)
    [named] = _search(client, hospital_a, "/studies", {**ct, "includefield": "StudyDescription"})
    [by_tag] = _search(client, hospital_a, "/studies", [*ct.items(), ("includefield", "00081030,00180015")])
    [everything] = _search(client, hospital_a, "/studies", {**ct, "includefield": "all"})
    assert "00081030" not in default
    assert named["00081030"]["Value"] == ["胸部CT平扫"]
    assert by_tag["00081030"] == named["00081030"]
    assert by_tag["00180015"]["Value"] == ["CHEST"]  # BodyPartExamined, from a visible instance
    assert "00081030" in everything
    assert set(default) < set(everything)

    [instance] = _search(client, hospital_a, f"/studies/{two_studies.ct.study_uid}/instances", {"InstanceNumber": 2})
    [full] = _search(
        client,
        hospital_a,
        f"/studies/{two_studies.ct.study_uid}/instances",
        [("InstanceNumber", "2"), ("includefield", "all")],
    )
    assert "00200032" not in instance  # ImagePositionPatient is not a default instance attribute
    assert full["00200032"]["Value"] == [-180, -180, -5]
    assert full[SOP_UID] == instance[SOP_UID]


def test_series_level_search_in_a_study_and_across_studies(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    [series] = _search(client, hospital_a, f"/studies/{two_studies.ct.study_uid}/series")
    assert series[SERIES_UID]["Value"] == [two_studies.ct.series_uid]
    assert series[STUDY_UID]["Value"] == [two_studies.ct.study_uid]
    assert series["00080060"]["Value"] == ["CT"]
    assert series["00201209"]["Value"] == [3]  # NumberOfSeriesRelatedInstances
    assert series["00081190"]["Value"][0].endswith(f"/series/{two_studies.ct.series_uid}")
    assert _values(_search(client, hospital_a, "/series", {"Modality": "MR"}), SERIES_UID) == [
        two_studies.mr.series_uid
    ]
    assert _values(_search(client, hospital_a, "/series", {"SeriesDescription": "brain*"}), SERIES_UID) == [
        two_studies.mr.series_uid
    ]
    assert len(_search(client, hospital_a, "/series")) == 2
    assert _search(client, hospital_a, f"/studies/{two_studies.ct.study_uid}/series", {"Modality": "MR"}) == []


def test_instance_level_search_at_three_scopes(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    ct = two_studies.ct
    in_series = _search(client, hospital_a, f"/studies/{ct.study_uid}/series/{ct.series_uid}/instances")
    assert _values(in_series, SOP_UID) == list(ct.sop_uids)  # ordered by InstanceNumber
    assert _values(in_series, "00200013") == [1, 2, 3]
    assert in_series[0]["00280010"]["Value"] == [64]  # Rows
    assert in_series[0][SERIES_UID]["Value"] == [ct.series_uid]
    in_study = _search(client, hospital_a, f"/studies/{ct.study_uid}/instances", {"InstanceNumber": 3})
    assert _values(in_study, SOP_UID) == [ct.sop_uids[2]]
    anywhere = _search(client, hospital_a, "/instances", {"SOPInstanceUID": two_studies.mr.sop_uid})
    assert _values(anywhere, SOP_UID) == [two_studies.mr.sop_uid]
    assert len(_search(client, hospital_a, "/instances", {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.4"})) == 2
    assert len(_search(client, hospital_a, "/instances", {"StudyDate": "20250201"})) == 3


def test_empty_result_is_200_with_an_empty_array(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    response = client.get("/dicomweb/studies", params={"Modality": "NM"}, headers=hospital_a.headers)
    assert response.status_code == 200
    assert response.json() == []


INVALID_QUERIES: list[tuple[str, ...]] = [
    ("NoSuchKeyword=1", "unknown-query-key"),
    ("StudyDate=2025", "invalid-matching-value"),
    ("StudyInstanceUID=1.2.*", "invalid-matching-value"),
    ("InstanceNumber=two", "invalid-matching-value"),
    ("limit=-1", "invalid-limit"),
    ("offset=x", "invalid-offset"),
    ("fuzzymatching=maybe", "invalid-fuzzymatching"),
    ("includefield=NoSuchField", "unknown-include-field"),
    ("NumberOfStudyRelatedInstances=3", "unsupported-matching-key"),
    ("ReferencedStudySequence=1", "unsupported-matching-key"),
    ("00081110.00081150=1.2", "unsupported-matching-key"),
    ("Modality=CT&Modality=MR", "duplicate-query-key"),
    ("ModalitiesInStudy=CT", "unsupported-matching-key", "/series"),
]


def test_invalid_queries_are_400_with_a_code(client: TestClient, hospital_a: Hospital) -> None:
    for query, code, *path in INVALID_QUERIES:
        response = client.get(f"/dicomweb{path[0] if path else '/studies'}?{query}", headers=hospital_a.headers)
        assert (response.status_code, response.json()["code"]) == (400, code), query


def test_unacceptable_accept_is_406_and_a_missing_token_401(client: TestClient, hospital_a: Hospital) -> None:
    headers = {**hospital_a.headers, "Accept": 'multipart/related; type="application/dicom+xml"'}
    response = client.get("/dicomweb/studies", headers=headers)
    assert (response.status_code, response.json()["code"]) == (406, "not-acceptable")
    for path in ("/studies", "/series", "/instances", "/studies/1.2.3/series", "/studies/1.2.3/instances"):
        response = client.get(f"/dicomweb{path}")
        assert (response.status_code, response.json()["code"]) == (401, "token-missing"), path


def test_another_hospital_finds_nothing(client: TestClient, hospital_b: Hospital, two_studies: TwoStudies) -> None:
    ct = two_studies.ct
    assert _search(client, hospital_b, "/studies") == []
    assert _search(client, hospital_b, "/studies", {"StudyInstanceUID": ct.study_uid}) == []
    assert _search(client, hospital_b, "/series") == []
    assert _search(client, hospital_b, "/instances", {"SOPInstanceUID": ct.sop_uid}) == []
    for path in (f"/studies/{ct.study_uid}/series", f"/studies/{ct.study_uid}/series/{ct.series_uid}/instances"):
        response = client.get(f"/dicomweb{path}", headers=hospital_b.headers)
        assert (response.status_code, response.json()["code"]) == (404, "study-not-found")


def test_administrators_cannot_search(client: TestClient, admin_token: str, two_studies: TwoStudies) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    assert client.get("/dicomweb/studies", headers=headers).status_code == 403
    response = client.get(f"/dicomweb/studies/{two_studies.ct.study_uid}/series", headers=headers)
    assert response.status_code == 404


def test_a_shared_study_shows_each_hospital_only_its_own_instances(
    client: TestClient, hospital_a: Hospital, hospital_b: Hospital, patient: SyntheticPatient
) -> None:
    """Both hospitals uploaded series of one study: counts, modalities and series lists are per hospital."""
    register(client, hospital_a, patient, "MRN-A")
    register(client, hospital_b, patient, "MRN-B")
    from_a = study_of(patient, SMALL_CT, "MRN-A", dt.date(2025, 3, 1), seed=3)
    original_study_uid = str(from_a[0].StudyInstanceUID)
    a = upload(client, hospital_a, from_a)
    b = upload(
        client,
        hospital_b,
        study_of(patient, SMALL_MR, "MRN-B", dt.date(2025, 3, 1), seed=4, study_uid=original_study_uid),
    )
    assert a.study_uid == b.study_uid
    [seen_by_b] = _search(client, hospital_b, "/studies")
    assert seen_by_b["00080061"]["Value"] == ["MR"]
    assert seen_by_b["00201206"]["Value"] == [1]
    assert seen_by_b["00201208"]["Value"] == [2]
    [seen_by_a] = _search(client, hospital_a, "/studies")
    assert seen_by_a["00080061"]["Value"] == ["CT"]
    assert seen_by_a["00201208"]["Value"] == [3]
    assert _values(_search(client, hospital_b, f"/studies/{b.study_uid}/series"), SERIES_UID) == [b.series_uid]
    assert _search(client, hospital_b, "/studies", {"ModalitiesInStudy": "CT"}) == []
    assert _search(client, hospital_b, f"/studies/{b.study_uid}/instances", {"Modality": "CT"}) == []
    response = client.get(
        f"/dicomweb/studies/{a.study_uid}/series/{a.series_uid}/instances", headers=hospital_b.headers
    )
    assert (response.status_code, response.json()["code"]) == (404, "series-not-found")


def test_truncation_by_the_server_maximum_is_signalled(
    client: TestClient, hospital_a: Hospital, two_studies: TwoStudies, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imaging_cloud.dicomweb.query_parameters.MAXIMUM_RESULTS", 1)
    response = client.get("/dicomweb/studies", headers=hospital_a.headers)
    assert len(response.json()) == 1
    assert response.headers["warning"].startswith("299 ")
    again = client.get("/dicomweb/studies", params={"offset": 1}, headers=hospital_a.headers)
    assert len(again.json()) == 1


def test_person_names_match_case_insensitively_and_fuzzily_by_component_prefix(
    client: TestClient, runtime: Runtime, hospital_a: Hospital, two_studies: TwoStudies
) -> None:
    """De-identified objects carry no names today; a name in the index (a future profile) is matched as PN."""
    with runtime.units() as uow:
        study = uow.session.scalar(select(Study).where(Study.study_uid == two_studies.mr.study_uid))
        assert study is not None
        name = {"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小东"}
        study.attributes = {**study.attributes, "00100010": {"vr": "PN", "Value": [name]}}
    mr = {two_studies.mr.study_uid}
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({"PatientName": "WANG^XIAODONG"}, mr),
        ({"PatientName": "wang*"}, mr),
        ({"PatientName": "王*"}, mr),
        ({"PatientName": "Xiao*"}, set()),
        ({"PatientName": "xiao", "fuzzymatching": "true"}, mr),
        ({"PatientName": "小", "fuzzymatching": "true"}, mr),
        ({"PatientName": "iao", "fuzzymatching": "true"}, set()),
        ({"00100010": "Wang^XiaoDong"}, mr),
    ]
    for params, expected in cases:
        assert _studies(client, hospital_a, params) == expected, params
    [found] = _search(client, hospital_a, "/studies", {"PatientName": "wang*"})
    assert found["00100010"]["Value"] == [name]
