"""A patient signs in with the EHC identity and sees their studies from every hospital; staff sign in by password."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot, sign_in_patient, sign_in_staff


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_patient_signs_in_and_sees_studies_from_two_hospitals_in_chinese(
    new_page: NewPage, demo_site: DemoSite, size: str
) -> None:
    page = new_page(size)
    page.goto("/web/patient/")
    expect(page).to_have_url(f"{demo_site.url}/web/sign-in?next=/web/patient/")
    sign_in_patient(page, 1)
    expect(page.locator("h1")).to_have_text("我的影像和报告")
    entries = page.locator(".timeline-entry")
    expect(entries.first).to_be_visible()
    institutions = set(page.locator(".timeline-entry .institution").all_inner_texts())
    assert len(institutions) >= 2, institutions
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # type: ignore[index]
    assert_accessible(page)
    screenshot(page, f"patient-timeline-{size}")


def test_the_language_switch_and_elder_mode_change_the_page(new_page: NewPage) -> None:
    page = new_page("phone")
    sign_in_patient(page, 1)
    base_size = page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    page.click("button[name=elder]")
    expect(page.locator("html")).to_have_class("elder")
    assert page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)") > base_size
    assert_accessible(page)
    page.click("button[name=language]")
    expect(page.locator("h1")).to_have_text("My images and reports")
    assert page.evaluate("document.documentElement.lang") == "en"


def test_a_wrong_password_is_refused_and_a_doctor_signs_in(new_page: NewPage, demo_site: DemoSite) -> None:
    page = new_page()
    page.goto("/web/sign-in")
    page.fill("#username", "sxph-doctor")
    page.fill("#password", "wrong")
    page.click("#staff-sign-in button[type=submit]")
    expect(page.locator("[data-error-code=sign-in-failed]")).to_be_visible()
    sign_in_staff(page, demo_site, "sxph-doctor")
    assert "/web/doctor/" in page.url


def test_sign_out_revokes_the_token_so_the_old_cookie_no_longer_reads_anything(
    new_page: NewPage, demo_site: DemoSite
) -> None:
    page = new_page()
    sign_in_patient(page, 1)
    access = next(c["value"] for c in page.context.cookies() if c["name"] == "ic_access")
    page.click("#sign-out")
    page.wait_for_url("**/web/sign-in")
    replayed = page.request.get(
        f"{demo_site.url}/persons/x/studies", headers={"Authorization": f"Bearer {access}"}, fail_on_status_code=False
    )
    assert replayed.status == 401
    assert replayed.json()["code"] == "token-revoked"
