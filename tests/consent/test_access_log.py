"""Who viewed my data, and which patients a doctor has: both read from what the service itself recorded or decides
with, filtered in SQL, and without identifiers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.consent.conftest import World, grant_to, issue, redeem


def test_the_access_log_shows_a_doctors_retrieval_with_names_and_no_identifiers(
    client: TestClient, world: World
) -> None:
    grant_id = grant_to(client, world).json()["id"]
    assert world.metadata(client, world.doctor.headers) == 200
    assert world.metadata(client, world.other_doctor.headers) == 404  # a refusal, recorded too
    response = client.get(f"/persons/{world.ref}/access-log", headers=world.patient_headers)
    assert response.status_code == 200, response.text
    log = response.json()["events"]
    [retrieval] = [e for e in log if e["action"] == "retrieve-metadata" and e["decision"] == "allow"]
    assert (retrieval["actor_role"], retrieval["doctor"], retrieval["institution_name"]) == (
        "doctor",
        "王医生",
        "山西示例医院乙",
    )
    assert (retrieval["basis"], retrieval["target_id"]) == (f"grant:{grant_id}", world.ct.study_uid)
    assert "山西示例医院乙 王医生 调阅了您的影像信息" in retrieval["summary"]
    assert f"依据：您的授权（编号 {grant_id}）" in retrieval["summary"]
    assert not [e for e in log if e["action"] == "grant-create"]  # the patient's own acts are left out
    for text in (world.patient.national_id, world.patient.name_zh, world.patient.health_card):
        assert text not in response.text
    with_own = client.get(f"/persons/{world.ref}/access-log?others=false", headers=world.patient_headers).json()
    assert "grant-create" in {e["action"] for e in with_own["events"]}


def test_the_access_log_pages_newest_first(client: TestClient, world: World) -> None:
    grant_to(client, world)
    for _ in range(3):
        world.metadata(client, world.doctor.headers)
    first = client.get(f"/persons/{world.ref}/access-log?limit=2", headers=world.patient_headers).json()
    assert len(first["events"]) == 2 and first["next_before"] == first["events"][-1]["seq"]
    rest = client.get(
        f"/persons/{world.ref}/access-log?limit=200&before={first['next_before']}", headers=world.patient_headers
    ).json()
    seqs = [e["seq"] for e in first["events"] + rest["events"]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs) and rest["next_before"] is None


def test_only_the_person_and_their_viewing_proxy_read_the_access_log(client: TestClient, world: World) -> None:
    for headers in (world.family_headers, world.doctor.headers, world.hospital_a.headers):
        assert client.get(f"/persons/{world.ref}/access-log", headers=headers).status_code == 404


def test_a_doctor_lists_the_patients_he_currently_has_a_basis_for(client: TestClient, world: World) -> None:
    assert client.get("/doctor/patients", headers=world.doctor.headers).json() == []
    grant_id = grant_to(client, world, scope={"kind": "modality", "modality": "CT"}).json()["id"]
    code = issue(client, world).json()["code"]
    session_id = redeem(client, world.doctor, code).json()["session_id"]
    response = client.get("/doctor/patients", headers=world.doctor.headers)
    assert response.status_code == 200, response.text
    listed = {(p["person_ref"], p["basis"], p["scope"]["kind"]) for p in response.json()}
    assert listed == {(world.ref, f"grant:{grant_id}", "modality"), (world.ref, f"one-time-code:{session_id}", "all")}
    assert client.get("/doctor/patients", headers=world.other_doctor.headers).json() == []
    refused = client.get("/doctor/patients", headers=world.patient_headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "doctors-only")
