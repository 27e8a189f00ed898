"""Family (亲情账号): a family member acts for the patient who linked them (the banner names whom, every page shows
that person's data, a lapsed token is re-acquired), and goes back; a patient adds and removes a family member."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot
from tests.web.patient_support import ELDER, FAMILY, OTHER, person_ref, sign_in_as, study_uids


def shown_studies(page: Page) -> set[str]:
    """The study UIDs of the timeline on the page."""
    return set(page.locator(".timeline-entry").evaluate_all("entries => entries.map(e => e.dataset.study)"))


def test_a_family_member_acts_for_the_patient_who_linked_them_and_goes_back(
    new_page: NewPage, demo_site: DemoSite
) -> None:
    page = new_page("phone")
    sign_in_as(page, demo_site, FAMILY)  # the demo made them the elder's family proxy (view, codes)
    own_studies = shown_studies(page)
    parent = person_ref(demo_site, ELDER)
    page.goto("/web/patient/family")
    assert_accessible(page)
    represented = page.locator(f"[data-person='{parent}']")
    masked_name = represented.locator(".person-name").inner_text().strip()
    assert "*" in masked_name  # a masked name, never the full one
    expect(represented).to_contain_text("您是对方的子女")
    screenshot(page, "patient-family-phone")
    represented.locator("button.act-for").click()

    expect(page).to_have_url(re.compile(r"/web/patient/$"))
    banner = page.locator("#acting-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(masked_name)
    shown = shown_studies(page)
    assert shown == study_uids(demo_site, ELDER) and shown != own_studies
    expect(page.locator(".timeline-entry .body-part").first).to_have_text(re.compile(r"[\u4e00-\u9fff]"))
    expect(page.locator(".site-nav a[href='/web/patient/family']")).to_have_count(0)  # a proxy manages no proxies
    assert_accessible(page)

    page.context.clear_cookies(name="ic_access")  # the proxy token lapsed: the next page asks for it again
    page.goto("/web/patient/code")
    expect(page.locator("#acting-banner")).to_contain_text(masked_name)
    expect(page.locator("#code-form")).to_be_visible()  # the link gives the right to issue codes
    page.goto("/web/patient/grants")
    expect(page.locator("[data-error-code=action-not-allowed]")).to_be_visible()  # …but not to grant access

    page.click("#acting-banner button[type=submit]")
    expect(page).to_have_url(re.compile(r"/web/patient/$"))
    expect(page.locator("#acting-banner")).to_have_count(0)
    assert shown_studies(page) == own_studies
    names = {c["name"] for c in page.context.cookies()}
    assert "ic_self" not in names and "ic_acting" not in names and "ic_refresh" in names


def test_a_patient_adds_a_family_member_by_health_card_and_removes_them(new_page: NewPage, demo_site: DemoSite) -> None:
    page = new_page("desktop")
    sign_in_as(page, demo_site, OTHER)
    page.goto("/web/patient/family")
    page.click("#new-proxy summary")
    page.check("#id-card")
    page.fill("#identifier", "NO-SUCH-CARD-000")
    page.click("#proxy-form button[type=submit]")
    error = page.locator("#form-error")
    expect(error).to_have_attribute("data-error-code", "person-not-found")
    expect(error).to_contain_text("未找到该号码对应的用户")
    expect(page.locator("#identifier")).to_have_value("")  # an identifier is never echoed back
    assert_accessible(page)

    page.fill("#identifier", demo_site.seed.patients[FAMILY].health_card)
    page.select_option("#relationship", "sibling")
    page.check("#right-codes")
    page.click("#proxy-form button[type=submit]")
    expect(page.locator("[data-done=proxy-added]")).to_be_visible()
    link = page.locator("#proxies > li[data-active=true]").first
    expect(link).to_contain_text("兄弟姐妹")
    expect(link).to_contain_text("查看影像和记录")
    expect(link).to_contain_text("生成调阅码")
    assert "*" in link.locator(".person-name").inner_text()
    assert_accessible(page)
    screenshot(page, "patient-family-desktop")

    link_id = link.get_attribute("data-proxy")
    page.once("dialog", lambda dialog: dialog.accept())
    link.locator("button.danger").click()
    expect(page.locator("[data-done=proxy-removed]")).to_be_visible()
    expect(page.locator(f"[data-proxy='{link_id}']")).to_have_attribute("data-active", "false")
