"""The whole story of issue #7 in one run, every step in Chromium: a patient opens a study, scrolls and windows it,
reads the report and shows a one-time code; a doctor at a hospital holding none of the patient's studies uses the
code and sees priors from two hospitals; the code fails a second time; the patient grants another doctor access
and revokes it, and that doctor's next page load is refused; the patient sees both doctors in "who viewed my
data"; an auditor exports the trail, which holds both doctors' reads and the refusal.
"""

from __future__ import annotations

import csv
import io
import secrets
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import DemoSite, NewPage, screenshot, sign_in_staff
from tests.web.patient_support import OTHER, bearer, sign_in_as, staff_token
from tests.web.test_viewer import canvas_digest, wait_until_shown

#: OTHER (seed index 2) has studies at DTTH and SXPH only: a TYCH doctor sees nothing without the patient's consent.
CONSENTING_HOSPITAL = "TYCH"


def new_doctor(site: DemoSite, display_name: str) -> tuple[str, str]:
    """A doctor account of its own at the TYCH hospital (created by the demo administrator through the API)."""
    username, password = f"e2e-doctor-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    created = httpx.post(
        f"{site.url}/admin/accounts",
        headers=bearer(staff_token(site, "demo-admin")),
        json={
            "username": username,
            "secret": password,
            "role": "doctor",
            "institution": CONSENTING_HOSPITAL,
            "display_name": display_name,
        },
    )
    assert created.status_code == 201, created.text
    return username, password


def sign_in_with_password(page: Page, username: str, password: str) -> None:
    page.goto("/web/sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#staff-sign-in button[type=submit]")
    page.wait_for_url("**/web/doctor/")


def patient_reads_a_study_and_shows_a_code(page: Page) -> str:
    page.locator("a[href^='/web/studies/']").first.click()
    page.wait_for_url("**/web/studies/**")
    wait_until_shown(page)
    expect(page.locator(".report-text").first).to_contain_text("检查所见")
    first = canvas_digest(page)
    page.locator("#viewer-canvas").focus()
    page.keyboard.press("ArrowDown")
    wait_until_shown(page)
    scrolled = canvas_digest(page)
    assert scrolled != first, "the next slice is another image"
    page.click("button[data-preset='300,1500']")  # bone
    wait_until_shown(page)
    assert canvas_digest(page) != scrolled, "a window preset changes the pixels"

    page.goto("/web/patient/code")
    page.click("#create-code")
    code = page.locator("#code-text").inner_text().strip()
    expect(page.locator("#code-qr")).to_be_visible()
    return code


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_patient_doctor_and_auditor_in_one_story(new_page: NewPage, demo_site: DemoSite, size: str) -> None:
    patient = new_page(size)
    sign_in_as(patient, demo_site, OTHER)
    code = patient_reads_a_study_and_shows_a_code(patient)

    # A doctor uses the code: priors from both hospitals that hold the patient's studies.
    doctor = new_page(size)
    code_doctor, code_password = new_doctor(demo_site, "调阅码医生")
    sign_in_with_password(doctor, code_doctor, code_password)
    doctor.fill("#code", code)
    doctor.click("#redeem-form button[type=submit]")
    doctor.wait_for_url("**/web/doctor/patients/**")
    person_ref = doctor.url.rsplit("/", 1)[-1]
    expect(doctor.locator("#priors .timeline-entry").first).to_be_visible()
    assert len(set(doctor.locator("#priors .institution").all_inner_texts())) >= 2
    doctor.locator("#priors a[href^='/web/studies/']").first.click()
    wait_until_shown(doctor)
    screenshot(doctor, f"e2e-doctor-viewer-{size}")

    # The same code a second time: refused, and said so.
    doctor.goto("/web/doctor/")
    doctor.fill("#code", code)
    doctor.click("#redeem-form button[type=submit]")
    expect(doctor.locator("#code-error")).to_have_attribute("data-error-code", "code-used")

    # A standing grant to a second doctor, used, then revoked: that doctor's next page load is refused.
    granted_doctor, granted_password = new_doctor(demo_site, "授权医生")
    patient.goto("/web/patient/grants")
    if patient.locator("#new-grant").get_attribute("open") is None:
        patient.click("#new-grant summary")
    patient.check("#grantee-doctor")
    patient.fill("#doctor", granted_doctor)
    patient.fill("#days", "7")
    patient.click("#grant-form button[type=submit]")
    expect(patient.locator("[data-done=grant-created]")).to_be_visible()
    grant = patient.locator("#grants > li").first
    expect(grant).to_have_attribute("data-state", "active")

    colleague = new_page(size)
    sign_in_with_password(colleague, granted_doctor, granted_password)
    colleague.goto(f"/web/doctor/patients/{person_ref}")
    expect(colleague.locator("#priors .timeline-entry").first).to_be_visible()

    patient.once("dialog", lambda dialog: dialog.accept())
    grant.locator("button.danger").click()
    expect(patient.locator("[data-done=grant-revoked]")).to_be_visible()
    refused = colleague.reload()
    assert refused is not None and refused.status in {403, 404}
    expect(colleague.locator("[data-error-code]")).to_be_visible()
    expect(colleague.locator("#priors")).to_have_count(0)

    # The patient sees both doctors in "who viewed my data".
    patient.goto("/web/patient/access-log")
    events = patient.locator("#events")
    expect(events).to_contain_text("调阅码医生")
    expect(events).to_contain_text("授权医生")
    expect(events.locator("[data-basis^=one-time-code]").first).to_be_visible()
    expect(events.locator("[data-basis^=grant]").first).to_be_visible()
    screenshot(patient, f"e2e-patient-access-log-{size}")

    # The auditor exports the trail: both doctors' reads of this person and the refused reload are in it.
    auditor = new_page(size)
    sign_in_staff(auditor, demo_site, "demo-auditor")
    auditor.goto(f"/web/audit/?patient={person_ref}")
    with auditor.expect_download() as download:
        auditor.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert rows and all(row["patient"] == person_ref for row in rows)
    by_code = {row["actor"] for row in rows if row["basis"].startswith("one-time-code:")}
    by_grant = {row["actor"] for row in rows if row["basis"].startswith("grant:") and row["actor_role"] == "doctor"}
    assert by_code and by_grant and not by_code & by_grant, "two different doctors, each on their own basis"
    refused_reads = [row for row in rows if row["decision"] == "deny" and row["actor"] in by_grant]
    assert refused_reads, "the revoked doctor's refused reload is in the trail"
