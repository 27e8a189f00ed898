"""The auditor's dashboard: the chain's verification on top, the trail searched and filtered, exported as CSV and
FHIR straight from the API, flags and emergency accesses reviewed with a note; other roles get the 403 page."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import text

from auth.principals import Role
from imaging_cloud.audit.chain import append
from imaging_cloud.audit.entry import Actor, AuditEntry
from imaging_cloud.audit.flags import FlagKind
from imaging_cloud.audit.search import MAX_EXPORT
from imaging_cloud.audit.tabular import COLUMNS
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.consent.break_glass import Purpose
from imaging_cloud.runtime import Runtime
from imaging_cloud.web import auditor
from tests.audit.conftest import without_append_only_triggers
from tests.conftest import mint_token
from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot, sign_in_patient, sign_in_staff

# -- helpers: what other people do through the API, so the auditor has something to find ---------------------------


def staff_token(site: DemoSite, username: str) -> str:
    form = {"grant_type": "password", "username": username, "password": site.password_of(username)}
    response = httpx.post(f"{site.url}/auth/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def patient_token(site: DemoSite, index: int) -> tuple[str, str]:
    """(access token, token subject) of demo patient ``index`` (0-based), signed in through the dev EHC issuer."""
    card = site.seed.patients[index].health_card
    response = httpx.post(f"{site.url}/dev-ehc/sign-in", json={"health_card": card})
    assert response.status_code == 200, response.text
    token = str(response.json()["access_token"])
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return token, str(claims["sub"])


def cause_a_denial(site: DemoSite) -> tuple[str, str]:
    """Demo patient 3 asks for patient 2's studies and is refused; (the refused actor, the person asked about)."""
    token, actor = patient_token(site, 2)
    _, other = patient_token(site, 1)
    other_ref = other.removeprefix("person:")
    refused = httpx.get(f"{site.url}/persons/{other_ref}/studies", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code in {403, 404}, refused.text
    return actor, other_ref


def break_the_glass(site: DemoSite) -> int:
    """sxph-doctor opens emergency access to demo patient 3 and ends it at once (so no other test sees the access)."""
    headers = {"Authorization": f"Bearer {staff_token(site, 'sxph-doctor')}"}
    body = {
        "health_card": site.seed.patients[2].health_card,
        "purpose": "unconscious-patient",
        "reason": "Unconscious after a road accident; prior head CT needed now.",
    }
    opened = httpx.post(f"{site.url}/doctor/break-glass", json=body, headers=headers)
    assert opened.status_code == 201, opened.text
    session_id = int(opened.json()["session_id"])
    ended = httpx.post(f"{site.url}/doctor/break-glass/{session_id}/end", headers=headers)
    assert ended.status_code == 200, ended.text
    return session_id


def search(page: Page, **filters: str) -> None:
    """Fill the trail's filter form and submit it (selects by value, text inputs by typing)."""
    for name, value in filters.items():
        field = page.locator(f"#trail-filters [name={name}]")
        if field.evaluate("element => element.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    page.click("#apply-filters")
    page.wait_for_load_state()


# -- in the browser --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_auditor_sees_the_chain_intact_and_the_trail_in_chinese(
    new_page: NewPage, demo_site: DemoSite, size: str
) -> None:
    page = new_page(size)
    sign_in_staff(page, demo_site, "demo-auditor")
    expect(page).to_have_url(f"{demo_site.url}/web/audit/")
    status = page.locator("#chain-status")
    expect(status).to_have_attribute("data-chain-status", "intact")
    expect(status.locator("h2")).to_have_text("✓ 审计链完整")
    expect(status).to_contain_text("没有事件被修改、删除或调换顺序")
    expect(page.locator("#last-checkpoint")).to_be_visible()
    rows = page.locator("#events tbody tr")
    expect(rows.first).to_be_visible()
    # The demo's hospitals uploaded studies: their rows read in Chinese, with the decision worded.
    upload = page.locator("#events tr[data-action=upload]").first
    expect(upload).to_contain_text("上传检查")
    expect(upload).to_contain_text("允许")
    expect(upload).to_contain_text("医院系统")
    assert page.locator("#events img, #events canvas").count() == 0
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # type: ignore[index]
    assert_accessible(page)
    screenshot(page, f"auditor-dashboard-{size}")


def test_filtering_by_deny_shows_only_the_refusals_marked(new_page: NewPage, demo_site: DemoSite) -> None:
    actor, other_ref = cause_a_denial(demo_site)
    page = new_page()
    sign_in_staff(page, demo_site, "demo-auditor")
    search(page, decision="deny")
    rows = page.locator("#events tbody tr")
    expect(rows.first).to_be_visible()
    assert set(page.locator("#events tbody tr").evaluate_all("rows => rows.map(r => r.dataset.decision)")) == {"deny"}
    assert "decision=deny" in page.url
    search(page, actor=actor)
    expect(rows.first).to_contain_text(actor)
    refusal = rows.filter(has_text=other_ref).first
    expect(refusal.locator(".decision-badge.deny")).to_have_text("拒绝")
    expect(refusal).to_have_class("event decision-deny")
    background = refusal.locator("td").first.evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert background != "rgba(0, 0, 0, 0)"  # marked, not only worded
    expect(page.locator("#f-decision")).to_have_value("deny")
    expect(page.locator("#f-actor")).to_have_value(actor)
    assert_accessible(page)


def test_the_export_buttons_download_the_filtered_trail_as_csv_and_fhir(new_page: NewPage, demo_site: DemoSite) -> None:
    actor, _ = cause_a_denial(demo_site)
    page = new_page()
    sign_in_staff(page, demo_site, "demo-auditor")
    search(page, actor=actor, decision="deny")
    shown = page.locator("#events tbody tr").count()
    assert shown >= 1

    with page.expect_download() as csv_download:
        page.click("#export-csv")
    table = list(csv.reader(io.StringIO(csv_download.value.path().read_text(encoding="utf-8"))))
    assert tuple(table[0]) == COLUMNS
    events = [dict(zip(COLUMNS, row, strict=True)) for row in table[1:]]
    assert len(events) == shown
    assert {(event["actor"], event["decision"]) for event in events} == {(actor, "deny")}

    with page.expect_download() as fhir_download:
        page.click("#export-fhir")
    bundle = json.loads(fhir_download.value.path().read_text(encoding="utf-8"))
    assert bundle["resourceType"] == "Bundle"
    resources = [entry["resource"] for entry in bundle["entry"]]
    assert len(resources) == shown
    assert {resource["resourceType"] for resource in resources} == {"AuditEvent"}
    assert {resource["outcome"] for resource in resources} == {"4"}  # denied, in BALP terms


def test_an_auditor_reviews_an_emergency_access_and_its_flag_with_notes(new_page: NewPage, demo_site: DemoSite) -> None:
    session_id = break_the_glass(demo_site)
    page = new_page()
    sign_in_staff(page, demo_site, "demo-auditor")
    page.click("nav.site-nav >> text=待复核事项")
    expect(page).to_have_url(f"{demo_site.url}/web/audit/flags")

    emergency = page.locator(f"[data-break-glass-id='{session_id}']")
    expect(emergency).to_contain_text("Unconscious after a road accident")
    expect(emergency).to_contain_text("患者意识不清")
    flag = page.locator(f"[data-flag-id='break-glass.{session_id}']")
    expect(flag).to_contain_text("紧急调阅")
    expect(flag).to_have_attribute("data-reviewed", "false")
    assert_accessible(page)
    screenshot(page, "auditor-flags")

    flag.locator("textarea").fill("已电话核实：患者车祸昏迷，调阅合理。")
    flag.locator("button[type=submit]").click()
    expect(page.locator("#notice")).to_have_text("该事项已标记为已复核。")
    expect(page.locator(f"[data-flag-id='break-glass.{session_id}']")).to_have_count(0)

    emergency.locator("textarea").fill("理由与急诊记录一致。")
    emergency.locator("button[type=submit]").click()
    expect(page.locator("#notice")).to_have_text("该紧急调阅已标记为已复核。")

    page.click("[data-show=reviewed]")
    reviewed_flag = page.locator(f"[data-flag-id='break-glass.{session_id}']")
    expect(reviewed_flag).to_have_attribute("data-reviewed", "true")
    expect(reviewed_flag.locator(".review-note")).to_have_text("已电话核实：患者车祸昏迷，调阅合理。")
    expect(reviewed_flag).to_contain_text("复核人 account:")
    reviewed_session = page.locator(f"[data-break-glass-id='{session_id}']")
    expect(reviewed_session.locator(".review-note")).to_have_text("理由与急诊记录一致。")
    expect(reviewed_session).to_contain_text("复核人 demo-auditor")
    assert reviewed_flag.locator("textarea").count() == 0


def test_an_auditor_finds_a_person_by_national_id_without_it_in_the_address(
    new_page: NewPage, demo_site: DemoSite
) -> None:
    national_id = demo_site.seed.patients[0].national_id
    page = new_page()
    sign_in_staff(page, demo_site, "demo-auditor")
    page.fill("#f-actor", national_id)
    page.click("#apply-filters")  # the browser refuses: an ID never goes into the address
    expect(page.locator("#f-actor:invalid")).to_have_count(1)
    assert national_id not in page.url
    page.fill("#f-actor", "")
    page.click(".person-search summary")
    page.select_option("#p-kind", "national_id")
    page.fill("#p-identifier", national_id)
    page.click("#person-search button[type=submit]")
    page.wait_for_url("**/web/audit/?patient=*")
    assert national_id not in page.url
    pseudonym = page.locator("#f-patient").input_value()
    assert pseudonym and pseudonym in page.url
    expect(page.locator("#events tbody tr").first).to_be_visible()
    assert national_id not in page.content()


def test_patients_and_doctors_get_the_403_page(new_page: NewPage, demo_site: DemoSite) -> None:
    patient = new_page("phone")
    sign_in_patient(patient, 1)
    response = patient.goto("/web/audit/")
    assert response is not None and response.status == 403
    expect(patient.locator("[data-error-code=page-not-for-role]")).to_be_visible()
    assert patient.locator("#chain-status").count() == 0
    assert_accessible(patient)

    doctor = new_page()
    sign_in_staff(doctor, demo_site, "dtth-doctor")
    for path in ("/web/audit/", "/web/audit/flags"):
        response = doctor.goto(path)
        assert response is not None and response.status == 403, path
        expect(doctor.locator("[data-error-code=page-not-for-role]")).to_be_visible()


# -- without a browser -----------------------------------------------------------------------------------------------


def test_every_word_of_the_audit_vocabulary_has_a_label() -> None:
    assert set(auditor.ACTION_LABELS) == {action.value for action in AuditAction}
    assert set(auditor.DECISION_LABELS) == {decision.value for decision in AuditDecision}
    assert set(auditor.TARGET_KIND_LABELS) == {kind.value for kind in TargetKind}
    assert set(auditor.FLAG_KIND_LABELS) == {kind.value for kind in FlagKind}
    assert set(auditor.PURPOSE_LABELS) == {purpose.value for purpose in Purpose}
    assert set(auditor.ROLE_LABELS) == {role.value for role in Role}
    assert auditor.EXPORT_LIMIT == MAX_EXPORT


@pytest.fixture
def auditor_browser(app: FastAPI, runtime: Runtime) -> Iterator[TestClient]:
    """An HTTPS client holding an auditor's sign-in cookie (the portal's cookies are Secure)."""
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        client.cookies.set("ic_access", mint_token(runtime, Role.AUDITOR, subject="account:auditor"))
        yield client


def test_a_tampered_chain_is_shown_broken_at_the_first_changed_event(
    auditor_browser: TestClient, runtime: Runtime
) -> None:
    for _ in range(3):
        assert auditor_browser.get("/web/audit/").status_code == 200
    with runtime.engine.begin() as connection:
        without_append_only_triggers(connection)
        connection.execute(text("UPDATE audit_events SET decision = 'deny', status = 403 WHERE seq = 2"))
    page = auditor_browser.get("/web/audit/")
    assert page.status_code == 200
    assert 'data-chain-status="broken"' in page.text
    assert 'data-broken-seq="2"' in page.text
    assert "审计链在事件 #2 处断裂" in page.text
    assert 'data-problem="hash-mismatch"' in page.text


def test_filters_that_are_not_valid_are_named_and_never_sent(auditor_browser: TestClient) -> None:
    page = auditor_browser.get(
        "/web/audit/", params={"decision": "maybe", "since": "2026-02-01T10:00", "until": "2026-01-01T10:00"}
    )
    assert page.status_code == 200
    assert 'id="filter-problems"' in page.text
    assert 'id="f-decision" name="decision" aria-invalid="true"' in page.text
    assert 'value="2026-01-01T10:00:00" aria-invalid="true"' in page.text  # the until before the since, named
    assert "export-csv" in page.text and "hidden" in page.text
    typed_id = auditor_browser.get("/web/audit/", params={"actor": "11010119900307851X"})
    assert "11010119900307851X" not in typed_id.text
    assert "筛选条件中不能填写身份证号" in typed_id.text
    searched = auditor_browser.get("/web/audit/", params={"decision": "deny", "since": "2026-01-01T08:00"})
    assert 'id="filter-problems"' not in searched.text
    assert "since=2026-01-01T08%3A00%3A00%2B08%3A00" in searched.text  # the export link: Beijing time, offset kept


def test_the_trail_pages_on_from_the_last_event_shown(auditor_browser: TestClient, runtime: Runtime) -> None:
    with runtime.units() as uow:  # a trail of 120 sign-ins, written the way the recorder writes them
        for number in range(120):
            signed_in = AuditEntry(
                Actor(f"account:{number}", role="doctor"),
                AuditAction.SIGN_IN,
                AuditDecision.ALLOW,
                "credentials matched",
                200,
                basis="credentials",
            )
            append(uow.session, signed_in)
    first = auditor_browser.get("/web/audit/").text
    assert first.count('class="event decision-') == auditor.PAGE_SIZE
    assert 'data-seq="1"' in first and 'id="first-page"' not in first
    second = auditor_browser.get("/web/audit/", params={"after_seq": auditor.PAGE_SIZE}).text
    assert f'data-seq="{auditor.PAGE_SIZE + 1}"' in second
    assert f'data-seq="{auditor.PAGE_SIZE}"' not in second
    assert 'id="first-page"' in second and 'id="next-page"' in second

    latest = re.search(r'href="/web/audit/\?after_seq=(\d+)" id="latest-page"', first)
    assert latest is not None
    assert int(latest.group(1)) == 120 - auditor.PAGE_SIZE  # the head the verification saw, less one page
    newest = auditor_browser.get("/web/audit/", params={"after_seq": latest.group(1)}).text
    assert 'data-seq="120"' in newest and 'id="latest-page"' not in newest


def test_a_review_is_posted_once_and_a_second_one_is_told_it_came_too_late(
    auditor_browser: TestClient, runtime: Runtime
) -> None:
    hospital = {"Authorization": f"Bearer {mint_token(runtime, Role.HOSPITAL, 'HOSP-A', subject='client:HOSP-A')}"}
    for _ in range(5):
        assert auditor_browser.get("/audit/events", headers=hospital).status_code == 403
    listed = auditor_browser.get("/web/audit/flags", params={"kind": "repeated-denials"})
    flag_id = re.search(r'data-flag-id="(repeated-denials\.[^"]+)"', listed.text)
    assert flag_id is not None
    form = {"csrf_token": auditor_browser.cookies["ic_csrf"], "show": "open", "kind": "repeated-denials"}
    action = f"/web/audit/flags/{flag_id.group(1)}/review"

    too_short = auditor_browser.post(action, data={**form, "note": " x "})
    assert too_short.status_code == 303
    assert too_short.headers["location"] == "/web/audit/flags?show=open&kind=repeated-denials&notice=note-too-short"
    done = auditor_browser.post(action, data={**form, "note": "A misconfigured interface engine; fixed."})
    assert done.headers["location"].endswith("notice=flag-reviewed")
    again = auditor_browser.post(action, data={**form, "note": "Reviewed twice by mistake."})
    assert again.headers["location"].endswith("notice=already-reviewed")
    reviewed = auditor_browser.get("/web/audit/flags", params={"show": "reviewed"})
    assert "A misconfigured interface engine; fixed." in reviewed.text
    assert "Reviewed twice by mistake." not in reviewed.text
