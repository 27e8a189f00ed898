"""One-time codes: the patient creates a code, shows it as a large QR code and in big digits with a live countdown
(never in a URL, never cached); a doctor can really use it, and the patient sees it used and ends it."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot
from tests.web.patient_support import ELDER, bearer, sign_in_as, staff_token

CODE = re.compile(r"^[A-HJ-NP-Z2-9]{5}-[0-9]{6}$")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_patient_shows_a_one_time_code_as_a_large_qr_with_a_countdown_and_a_doctor_uses_it(
    new_page: NewPage, demo_site: DemoSite, size: str
) -> None:
    page = new_page(size)
    sign_in_as(page, demo_site, ELDER)
    page.goto("/web/patient/code")
    expect(page.locator("h1")).to_have_text("调阅码")
    assert_accessible(page)
    page.select_option("#ttl-seconds", "300")
    page.select_option("#session-minutes", "30")
    with page.expect_response(lambda r: r.url.endswith("/web/patient/code") and r.request.method == "POST") as answer:
        page.click("#create-code")
    assert answer.value.headers["cache-control"] == "no-store"

    qr = page.locator("#code-qr")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml;base64,")  # type: ignore[union-attr]
    assert page.evaluate("document.getElementById('code-qr').naturalWidth") > 0
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 280, box  # large enough to scan across a desk
    code = page.locator("#code-text").inner_text().strip()
    assert CODE.fullmatch(code), code
    secret = code.split("-")[1]
    expect(page.locator(".code-expiry time")).not_to_be_empty()  # the expiry, also without script

    countdown = page.locator("#countdown-value")
    expect(page.locator("#code-countdown")).to_be_visible()
    expect(countdown).to_have_text(re.compile(r"^0[45]:[0-5][0-9]$"))
    first = int(countdown.get_attribute("data-seconds-left") or "0")
    page.wait_for_function(
        "start => Number(document.getElementById('countdown-value').dataset.secondsLeft) < start", arg=first
    )
    assert secret not in page.url and page.url.endswith("/web/patient/code")  # a reload lists, never re-creates
    assert_accessible(page)
    screenshot(page, f"patient-code-{size}")

    doctor = staff_token(demo_site, "tych-doctor")
    redeemed = httpx.post(f"{demo_site.url}/doctor/codes/redeem", json={"code": code}, headers=bearer(doctor))
    assert redeemed.status_code == 200, redeemed.text
    basis = f"one-time-code:{redeemed.json()['session_id']}"
    assert basis in doctor_bases(demo_site, doctor)

    page.goto("/web/patient/code")
    public_id = code.split("-")[0]
    card = page.locator(f"[data-code='{public_id}']")
    expect(card).to_have_attribute("data-state", "used")
    expect(card).to_contain_text("太原市中心医院示例 医生")
    assert secret not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    card.locator("button.danger").click()
    expect(page.locator("[data-done=code-revoked]")).to_be_visible()
    expect(page.locator(f"[data-code='{public_id}']")).to_have_attribute("data-state", "revoked")
    assert basis not in doctor_bases(demo_site, doctor)  # revoking the used code ended the doctor's session


def doctor_bases(site: DemoSite, token: str) -> set[str]:
    """The bases on which the doctor may open someone's studies right now."""
    response = httpx.get(f"{site.url}/doctor/patients", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {patient["basis"] for patient in response.json()}
