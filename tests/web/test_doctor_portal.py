"""The doctor portal in Chromium: my patients, priors from every hospital with the duplicate-exam hint, a patient's
one-time code typed (or scanned) once, the rate limit, and break-glass with its warning and its end.

What the test needs beyond the demo's own grant (patient 1 → ``dtth-doctor``) it makes through the API the way a
patient's app would (``DemoApi``) and takes back afterwards: the demo site is shared by the tests of a worker.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot, sign_in_staff

DUPLICATE_WINDOWS = (30, 90, 180, 365, 730, 1825)  # the choices the priors page offers


@dataclass(frozen=True)
class DemoPerson:
    ref: str
    health_card: str
    headers: dict[str, str]


class DemoApi:
    """The demo site's API, called as its apps would: patients through the development EHC issuer, staff by password."""

    def __init__(self, site: DemoSite) -> None:
        self.site = site
        self.client = httpx.Client(base_url=site.url, timeout=30.0)

    def person(self, index: int) -> DemoPerson:
        """Demo patient ``index`` (1-based, the sign-in page's order) signed in through the development issuer."""
        listed = self.client.get("/dev-ehc/", headers={"Accept": "application/json"}).json()["patients"]
        card = listed[index - 1]["health_card"]
        signed_in = self.client.post("/dev-ehc/sign-in", json={"health_card": card})
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["access_token"]
        return DemoPerson(ref=str(_claims(token)["person_ref"]), health_card=card, headers=_bearer(token))

    def staff(self, username: str, password: str | None = None) -> dict[str, str]:
        form = {"grant_type": "password", "username": username, "password": password or self.site.password_of(username)}
        signed_in = self.client.post("/auth/token", data=form)
        assert signed_in.status_code == 200, signed_in.text
        return _bearer(signed_in.json()["access_token"])

    def issue_code(self, person: DemoPerson) -> dict[str, Any]:
        issued = self.client.post(f"/persons/{person.ref}/codes", headers=person.headers, json={})
        assert issued.status_code == 201, issued.text
        return dict(issued.json())

    def revoke_code(self, person: DemoPerson, public_id: str) -> None:
        revoked = self.client.delete(f"/persons/{person.ref}/codes/{public_id}", headers=person.headers)
        assert revoked.status_code == 204, revoked.text

    def new_doctor(self, institution: str) -> tuple[str, str]:
        """A fresh doctor account (username, password), so a test may exhaust its rate limit alone."""
        username, password = f"web-doctor-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
        created = self.client.post(
            "/admin/accounts",
            headers=self.staff("demo-admin"),
            json={
                "username": username,
                "secret": password,
                "role": "doctor",
                "institution": institution,
                "display_name": "测试医生",
            },
        )
        assert created.status_code == 201, created.text
        return username, password


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


@pytest.fixture
def demo_api(demo_site: DemoSite) -> Iterator[DemoApi]:
    api = DemoApi(demo_site)
    yield api
    api.client.close()


def sign_in_by_password(page: Page, username: str, password: str) -> None:
    page.goto("/web/sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#staff-sign-in button[type=submit]")
    page.wait_for_url("**/web/doctor/")


def repeat_chest_cts(site: DemoSite, patient_index: int) -> list[dt.date]:
    """Dates of the demo's chest CTs of one patient (index 0-based, as the demo plan counts)."""
    return sorted(
        study.study_date
        for study in site.seed.studies
        if study.patient_index == patient_index and (study.spec.modality, study.spec.body_part) == ("CT", "CHEST")
    )


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_doctor_sees_the_granted_patient_with_priors_from_two_hospitals_and_the_repeat_ct(
    new_page: NewPage, demo_site: DemoSite, demo_api: DemoApi, size: str
) -> None:
    patient = demo_api.person(1)
    page = new_page(size)
    sign_in_staff(page, demo_site, "dtth-doctor")
    expect(page).to_have_url(f"{demo_site.url}/web/doctor/")
    expect(page.locator("h1")).to_have_text("我的患者")
    card = page.locator(f"#my-patients [data-person='{patient.ref}']")
    expect(card.locator("[data-basis=grant] .badge").first).to_have_text("患者授权")
    expect(card.locator("[data-basis=grant]")).to_contain_text("全部检查")
    assert_accessible(page)

    card.get_by_role("link").click()
    expect(page).to_have_url(f"{demo_site.url}/web/doctor/patients/{patient.ref}")
    expect(page.locator("h1")).to_have_text("患者既往影像")
    entries = page.locator("#priors .timeline-entry")
    expect(entries.first).to_be_visible()
    assert len(set(page.locator("#priors .institution").all_inner_texts())) >= 2
    first_study = entries.first.get_attribute("data-study")
    expect(entries.first.locator(".study-title a")).to_have_attribute("href", f"/web/studies/{first_study}")
    # The demo's repeat chest CT came three weeks after the first: the timeline marks it.
    expect(page.locator("#priors .repeat-hint")).to_have_count(1)
    expect(page.locator("#priors .repeat-hint")).to_contain_text("可能重复")

    chest_cts = repeat_chest_cts(demo_site, 0)
    assert len(chest_cts) == 2
    age = (dt.date.today() - chest_cts[-1]).days
    window = next(days for days in DUPLICATE_WINDOWS if days >= age)
    expected = sum(1 for day in chest_cts if (dt.date.today() - day).days <= window)
    page.select_option("#modality", "CT")
    page.select_option("#body_part", "CHEST")
    page.select_option("#window_days", str(window))
    page.click("#duplicate-form button[type=submit]")
    warning = page.locator("#duplicate-warning")
    expect(warning).to_be_visible()
    expect(warning).to_have_attribute("data-count", str(expected))
    expect(warning).to_contain_text("可能重复检查")
    expect(warning.locator("li")).to_have_count(expected)
    assert "modality=CT" in page.url and "body_part=CHEST" in page.url

    page.select_option("#modality", "MG")
    page.select_option("#body_part", "BREAST")
    page.click("#duplicate-form button[type=submit]")
    expect(page.locator("#duplicate-none")).to_be_visible()
    page.select_option("#modality", "CT")
    page.select_option("#body_part", "CHEST")
    page.click("#duplicate-form button[type=submit]")
    expect(page.locator("#duplicate-warning")).to_be_visible()

    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # type: ignore[index]
    assert_accessible(page)
    screenshot(page, f"doctor-priors-{size}")


def test_a_patients_one_time_code_opens_the_priors_once_and_wrong_or_used_codes_say_why(
    new_page: NewPage, demo_site: DemoSite, demo_api: DemoApi
) -> None:
    patient = demo_api.person(3)
    issued = demo_api.issue_code(patient)
    try:
        page = new_page("phone")
        sign_in_staff(page, demo_site, "sxph-doctor")
        expect(page).to_have_url(f"{demo_site.url}/web/doctor/")
        # Scanning is offered only where the browser can read QR codes from the camera.
        can_scan = page.evaluate(
            "'BarcodeDetector' in window && !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)"
        )
        if can_scan:
            expect(page.locator("#scan-code")).to_be_visible()
        else:
            expect(page.locator("#scan-code")).to_be_hidden()

        public, secret = issued["code"].split("-")
        page.fill("#code", f"{public}-{(int(secret) + 1) % 1_000_000:06d}")
        screenshot(page, "doctor-code-entry-phone")
        page.click("#redeem-form button[type=submit]")
        error = page.locator("#code-error")
        expect(error).to_have_attribute("data-error-code", "code-invalid")
        expect(error).to_have_text("调阅码无效，请核对后重新输入。")
        expect(page.locator("#code")).to_have_value("")  # a typed code is never echoed back
        assert_accessible(page)

        page.fill("#code", issued["code"].lower())
        page.click("#redeem-form button[type=submit]")
        expect(page).to_have_url(f"{demo_site.url}/web/doctor/patients/{patient.ref}")
        expect(page.locator("#access-basis [data-basis=one-time-code] .badge").first).to_have_text("调阅码")
        expect(page.locator("#priors .timeline-entry").first).to_be_visible()
        assert len(set(page.locator("#priors .institution").all_inner_texts())) >= 2
        assert issued["code"] not in page.url

        page.goto("/web/doctor/")
        expect(page.locator(f"#my-patients [data-person='{patient.ref}'] [data-basis=one-time-code]")).to_be_visible()
        page.fill("#code", issued["code"])
        page.click("#redeem-form button[type=submit]")
        expect(page.locator("#code-error")).to_have_attribute("data-error-code", "code-used")
        expect(page.locator("#code-error")).to_contain_text("已被使用")
        assert_accessible(page)
    finally:
        demo_api.revoke_code(patient, issued["public_id"])  # ends the doctor's session too


_FAKE_CAMERA_WITH_A_QR_CODE = """
(() => {
  // A browser without a camera or BarcodeDetector: stand-ins with the same interfaces, holding one code.
  window.BarcodeDetector = class {
    constructor(options) { this.formats = options.formats; }
    async detect(_source) { return [{ rawValue: "https://example.invalid/x" }, { rawValue: " K7M2P-482913 " }]; }
  };
  const devices = navigator.mediaDevices || {};
  devices.getUserMedia = async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 64;
    canvas.getContext("2d").fillRect(0, 0, 64, 64);
    return canvas.captureStream(5);
  };
  if (!navigator.mediaDevices) Object.defineProperty(navigator, "mediaDevices", { value: devices });
})();
"""


def test_where_the_browser_reads_qr_codes_the_scan_button_fills_the_code(
    new_page: NewPage, demo_site: DemoSite
) -> None:
    page = new_page("phone")
    page.add_init_script(_FAKE_CAMERA_WITH_A_QR_CODE)
    sign_in_staff(page, demo_site, "tych-doctor")
    scan = page.locator("#scan-code")
    expect(scan).to_be_visible()
    expect(scan).to_have_text("扫描二维码")
    scan.click()
    expect(page.locator("#code")).to_have_value("K7M2P-482913")
    expect(page.locator("#scan-status")).to_have_text("已识别调阅码，请核对后查看既往影像。")
    expect(page.locator("#scan-video")).to_be_hidden()  # the camera is released once the code is read
    assert page.evaluate("document.getElementById('scan-video').srcObject") is None


def test_a_doctor_who_guesses_too_often_is_told_to_wait(
    new_page: NewPage, demo_site: DemoSite, demo_api: DemoApi
) -> None:
    username, password = demo_api.new_doctor("TYCH")
    headers = demo_api.staff(username, password)
    statuses = {
        demo_api.client.post("/doctor/codes/redeem", headers=headers, json={"code": f"QQQQQ-{guess:06d}"}).status_code
        for guess in range(10)
    }
    assert statuses <= {404, 429}
    page = new_page("desktop")
    sign_in_by_password(page, username, password)
    page.fill("#code", "QQQQQ-999999")
    page.click("#redeem-form button[type=submit]")
    error = page.locator("#code-error")
    expect(error).to_have_attribute("data-error-code", "too-many-attempts")
    expect(error).to_have_text("输错次数过多，请 15 分钟后再试。")


def test_break_glass_needs_a_reason_warns_in_red_opens_the_priors_and_can_be_ended(
    new_page: NewPage, demo_site: DemoSite, demo_api: DemoApi
) -> None:
    patient = demo_api.person(3)  # none of patient 3's studies is at TYCH, and nobody gave tych-doctor access
    page = new_page("desktop")
    sign_in_staff(page, demo_site, "tych-doctor")
    page.click("nav a[href='/web/doctor/break-glass']")
    expect(page.locator("h1")).to_have_text("无授权紧急调阅")
    warning = page.locator("#break-glass-warning")
    expect(warning).to_contain_text("每一次紧急调阅都由审计人员复核")
    expect(warning).to_contain_text("患者会被告知")
    assert warning.evaluate("e => getComputedStyle(e).color") == "rgb(163, 0, 21)"
    assert_accessible(page)
    screenshot(page, "doctor-break-glass")

    page.check("input[name=id_kind][value=health_card]")
    page.fill("#identifier", patient.health_card)
    page.select_option("#purpose", "unconscious-patient")
    page.eval_on_selector("#break-glass-form", "form => { form.noValidate = true; }")  # what a bare POST would send
    with page.expect_response("**/web/doctor/break-glass") as answered:
        page.click("#break-glass-form button[type=submit]")
    assert answered.value.status == 422
    expect(page.locator("#break-glass-error")).to_have_attribute("data-error-code", "reason-required")
    expect(page.locator("#break-glass-error")).to_contain_text("请填写理由")
    assert patient.health_card not in page.content()  # the identifier is never echoed back
    expect(page.locator("#open-emergencies")).to_have_count(0)

    page.check("input[name=id_kind][value=health_card]")
    page.fill("#identifier", patient.health_card)
    page.fill("#reason", "患者昏迷送入急诊，需要查看既往胸部影像")
    page.click("#break-glass-form button[type=submit]")
    expect(page).to_have_url(f"{demo_site.url}/web/doctor/patients/{patient.ref}")
    banner = page.locator("#break-glass-banner")
    expect(banner).to_contain_text("紧急调阅进行中")
    expect(banner).to_contain_text("由审计人员复核，并告知患者")
    expect(page.locator("#priors .timeline-entry").first).to_be_visible()
    assert patient.health_card not in page.url and patient.health_card not in page.title()
    assert_accessible(page)

    banner.locator(".end-break-glass").click()
    expect(page).to_have_url(f"{demo_site.url}/web/doctor/")
    expect(page.locator(f"#my-patients [data-person='{patient.ref}']")).to_have_count(0)
    refused = page.goto(f"/web/doctor/patients/{patient.ref}")
    assert refused is not None and refused.status == 404
    expect(page.locator("[data-error-code=person-not-found]")).to_be_visible()
