"""Who viewed my data: a doctor's read under the patient's grant appears as the API's plain Chinese sentence (also
under that grant's uses), and an emergency (break-glass) access stands out with the doctor's stated reason."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot
from tests.web.patient_support import ELDER, OTHER, bearer, person_ref, sign_in_as, staff_token


def test_the_patient_sees_a_doctors_read_under_the_grant_and_an_emergency_access_highlighted(
    new_page: NewPage, demo_site: DemoSite
) -> None:
    granted = staff_token(demo_site, "dtth-doctor")  # the demo's grant of the elder's studies
    read = httpx.get(f"{demo_site.url}/persons/{person_ref(demo_site, ELDER)}/studies", headers=bearer(granted))
    assert read.status_code == 200, read.text

    page = new_page("desktop")
    sign_in_as(page, demo_site, ELDER)
    page.goto("/web/patient/access-log")
    newest_read = page.locator("#events > li[data-action=search]").first
    expect(newest_read).to_contain_text("大同市第三医院示例")
    expect(newest_read.locator(".event-summary")).to_contain_text("查询了您的检查列表")
    expect(newest_read.locator("[data-basis=grant]")).to_have_text("您的授权")
    assert_accessible(page)
    screenshot(page, "patient-access-log-desktop")

    page.goto("/web/patient/grants")
    demo_grant = page.locator("#grants > li", has_text="大同市第三医院示例").first
    demo_grant.locator("a[href$='/uses']").click()
    expect(page.locator("#uses > li[data-action=search]").first).to_contain_text("大同市第三医院示例")
    assert_accessible(page)

    reason = "Test: unconscious in the emergency room, prior chest images needed"
    emergency = staff_token(demo_site, "sxph-doctor")
    opened = httpx.post(
        f"{demo_site.url}/doctor/break-glass",
        json={
            "health_card": demo_site.seed.patients[OTHER].health_card,
            "purpose": "unconscious-patient",
            "reason": reason,
        },
        headers=bearer(emergency),
    )
    assert opened.status_code == 201, opened.text
    glass = opened.json()
    looked = httpx.get(f"{demo_site.url}/persons/{glass['person_ref']}/studies", headers=bearer(emergency))
    assert looked.status_code == 200, looked.text
    ended = httpx.post(f"{demo_site.url}/doctor/break-glass/{glass['session_id']}/end", headers=bearer(emergency))
    assert ended.status_code == 200, ended.text

    phone = new_page("phone")
    sign_in_as(phone, demo_site, OTHER)
    phone.goto("/web/patient/access-log")
    section = phone.locator("#break-glass")
    expect(section).to_be_visible()
    card = section.locator(f"[data-break-glass='{glass['session_id']}']")
    expect(card).to_contain_text(reason)
    expect(card).to_contain_text("无法征得您的同意（意识不清）")
    expect(card).to_contain_text("尚未复核")
    highlighted = phone.locator("#events > li.break-glass").first
    expect(highlighted.locator("[data-basis=break-glass]")).to_have_text("紧急调阅")
    expect(highlighted.locator(".event-summary")).to_contain_text("紧急调阅")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    assert_accessible(phone)
    screenshot(phone, "patient-access-log-phone")
