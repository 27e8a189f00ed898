"""One-time codes: shown as text and QR, stored hashed, redeemed once for a time-boxed session; used, expired,
revoked and locked codes say so; guessing is stopped by the rate limits; two doctors racing get one session."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from imaging_cloud.consent.codes import CODE_LIMIT, DOCTOR_LIMIT
from imaging_cloud.consent.models import CodeSession, OneTimeCode
from imaging_cloud.runtime import Runtime
from tests.consent.conftest import World, events, issue, redeem

CODE_FORMAT = re.compile(r"^[A-HJKMNP-Z2-9]{5}-[0-9]{6}$")


def _wrong(code: str) -> str:
    public, secret = code.split("-")
    return f"{public}-{(int(secret) + 1) % 1_000_000:06d}"


def test_a_code_is_text_and_qr_and_only_its_hash_is_stored(client: TestClient, world: World, runtime: Runtime) -> None:
    response = issue(client, world)
    assert response.status_code == 201, response.text
    body = response.json()
    assert CODE_FORMAT.match(body["code"]) and body["code"].startswith(body["public_id"] + "-")
    assert body["qr_svg"].lstrip().startswith("<?xml") and "<svg" in body["qr_svg"]
    assert body["session_minutes"] == 240 and body["scope"]["kind"] == "all"
    ttl = dt.datetime.fromisoformat(body["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=9) < ttl <= dt.timedelta(minutes=10)
    secret = body["code"].split("-")[1]
    with runtime.sessions() as session:
        [row] = session.scalars(select(OneTimeCode))
        assert secret not in row.secret_hash and len(row.secret_hash) == 64
    listed = client.get(f"/persons/{world.ref}/codes", headers=world.patient_headers)
    assert listed.status_code == 200 and secret not in listed.text
    assert [(c["public_id"], c["state"]) for c in listed.json()] == [(body["public_id"], "active")]
    [event] = events(runtime, "code-issue")
    assert secret not in str(event.details) and event.details["code"] == body["public_id"]


def test_a_redeemed_code_opens_the_chosen_studies_for_the_session(client: TestClient, world: World) -> None:
    code = issue(client, world, scope={"kind": "modality", "modality": "CT"}, session_minutes=30).json()["code"]
    assert world.metadata(client, world.doctor.headers) == 404
    response = redeem(client, world.doctor, code.lower())
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["person_ref"] == world.ref and session["scope"]["modality"] == "CT"
    lasts = dt.datetime.fromisoformat(session["expires_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=29) < lasts <= dt.timedelta(minutes=30)
    assert world.metadata(client, world.doctor.headers, world.ct) == 200
    assert world.metadata(client, world.doctor.headers, world.mr) == 404
    listed = client.get(f"/persons/{world.ref}/codes", headers=world.patient_headers).json()
    assert (listed[0]["state"], listed[0]["used_by"]) == ("used", "王医生")


def test_a_used_code_cannot_be_used_again(client: TestClient, world: World) -> None:
    code = issue(client, world).json()["code"]
    assert redeem(client, world.doctor, code).status_code == 200
    for account in (world.doctor, world.other_doctor):
        again = redeem(client, account, code)
        assert (again.status_code, again.json()["code"]) == (410, "code-used")
    assert world.metadata(client, world.other_doctor.headers) == 404


def test_an_expired_code_says_so(client: TestClient, world: World, runtime: Runtime) -> None:
    code = issue(client, world).json()["code"]
    with runtime.units() as uow:
        uow.session.execute(update(OneTimeCode).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    response = redeem(client, world.doctor, code)
    assert (response.status_code, response.json()["code"]) == (410, "code-expired")
    assert world.metadata(client, world.doctor.headers) == 404


def test_revoking_a_code_refuses_it_and_ends_the_session_it_opened(client: TestClient, world: World) -> None:
    unused = issue(client, world).json()
    revoked = client.delete(f"/persons/{world.ref}/codes/{unused['public_id']}", headers=world.patient_headers)
    assert revoked.status_code == 204
    response = redeem(client, world.doctor, unused["code"])
    assert (response.status_code, response.json()["code"]) == (410, "code-revoked")
    used = issue(client, world).json()
    assert redeem(client, world.doctor, used["code"]).status_code == 200
    assert world.metadata(client, world.doctor.headers) == 200
    assert client.delete(f"/persons/{world.ref}/codes/{used['public_id']}", headers=world.patient_headers).status_code
    assert world.metadata(client, world.doctor.headers) == 404


def test_a_wrong_or_unknown_code_is_a_generic_not_found(client: TestClient, world: World) -> None:
    code = issue(client, world).json()["code"]
    for typed in (_wrong(code), "ZZZZZ-123456", "not a code", code.replace("-", "")):
        response = redeem(client, world.doctor, typed)
        assert (response.status_code, response.json()["code"]) == (404, "code-invalid"), typed


def test_five_failed_attempts_lock_the_code_even_for_the_right_secret(client: TestClient, world: World) -> None:
    code = issue(client, world).json()["code"]
    for _ in range(CODE_LIMIT):
        assert redeem(client, world.doctor, _wrong(code)).status_code == 404
    for account in (world.doctor, world.other_doctor):
        response = redeem(client, account, code)
        assert (response.status_code, response.json()["code"]) == (410, "code-locked")
    listed = client.get(f"/persons/{world.ref}/codes", headers=world.patient_headers).json()
    assert listed[0]["state"] == "locked"


def test_brute_force_by_one_doctor_is_stopped_by_the_rate_limit(client: TestClient, world: World) -> None:
    codes = [issue(client, world).json()["code"] for _ in range(3)]
    statuses = [redeem(client, world.doctor, f"{codes[0][:5]}-{guess:06d}").status_code for guess in range(20)]
    assert statuses[:CODE_LIMIT] == [404] * CODE_LIMIT  # then the code is locked, but failures still count
    statuses += [redeem(client, world.doctor, f"QQQQQ-{guess:06d}").status_code for guess in range(DOCTOR_LIMIT)]
    assert 429 in statuses
    limited = redeem(client, world.doctor, codes[1])
    assert (limited.status_code, limited.json()["code"]) == (429, "too-many-attempts")
    assert redeem(client, world.other_doctor, codes[1]).status_code == 200  # the limit is per doctor


def test_only_doctors_with_an_account_redeem(client: TestClient, world: World) -> None:
    code = issue(client, world).json()["code"]
    for headers in (world.patient_headers, world.clerk.headers, world.hospital_a.headers):
        assert redeem_with(client, headers, code).status_code == 403
    assert redeem(client, world.doctor, code).status_code == 200


def redeem_with(client: TestClient, headers: dict[str, str], code: str) -> Any:
    return client.post("/doctor/codes/redeem", headers=headers, json={"code": code})


def test_two_doctors_redeeming_one_code_at_once_get_exactly_one_session(
    client: TestClient, world: World, runtime: Runtime
) -> None:
    for _ in range(3):
        code = issue(client, world).json()["code"]
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}

        def attempt(
            name: str,
            headers: dict[str, str],
            typed: str = code,
            gate: threading.Barrier = barrier,
            into: dict[str, Any] = results,
        ) -> None:
            gate.wait()
            into[name] = redeem_with(client, headers, typed)

        threads = [
            threading.Thread(target=attempt, args=("a", world.doctor.headers)),
            threading.Thread(target=attempt, args=("b", world.other_doctor.headers)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes = sorted((r.status_code, r.json().get("code")) for r in results.values())
        assert outcomes == [(200, None), (410, "code-used")], outcomes
    with runtime.sessions() as session:
        assert session.scalar(select(func.count(CodeSession.id))) == 3  # one session per code, never two


def test_a_code_is_issued_and_revoked_only_by_those_who_may(client: TestClient, world: World) -> None:
    assert issue(client, world, headers=world.family_headers).status_code == 404
    assert issue(client, world, headers=world.doctor.headers).status_code == 404
    assert issue(client, world, session_minutes=2000).status_code == 422
    assert issue(client, world, ttl_seconds=4000).status_code == 422
    public_id = issue(client, world).json()["public_id"]
    gone = client.delete(f"/persons/{world.ref}/codes/{public_id}", headers=world.family_headers)
    assert gone.status_code == 404
    unknown = client.delete(f"/persons/{world.ref}/codes/ABCDE", headers=world.patient_headers)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "code-not-found")
