"""Authorizations: a patient grants a doctor or a hospital access, sees it listed in words, revokes it; what the
API refuses is said on the form in Chinese."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot
from tests.web.patient_support import ELDER, sign_in_as


def open_new_grant_form(page: Page) -> None:
    page.goto("/web/patient/grants")
    details = page.locator("#new-grant")
    if details.get_attribute("open") is None:
        page.click("#new-grant summary")
    expect(page.locator("#grant-form")).to_be_visible()


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_patient_authorizes_a_doctor_for_chosen_studies_sees_it_and_revokes_it(
    new_page: NewPage, demo_site: DemoSite, size: str
) -> None:
    page = new_page(size)
    sign_in_as(page, demo_site, ELDER)
    open_new_grant_form(page)
    assert_accessible(page)
    page.check("#grantee-doctor")
    expect(page.locator("#institution")).to_be_hidden()  # the other option's details are folded away
    page.fill("#doctor", "tych-doctor")
    page.check("#scope-studies")
    first_study = page.locator("input[name=study_uids]").first
    first_study.check()
    page.select_option("#purpose", "second-opinion")
    page.fill("#days", "7")
    page.click("#grant-form button[type=submit]")

    expect(page).to_have_url(re.compile(r"/web/patient/grants\?done=grant-created$"))
    expect(page.locator("[data-done=grant-created]")).to_be_visible()
    newest = page.locator("#grants > li").first
    expect(newest).to_have_attribute("data-state", "active")
    expect(newest.locator(".grantee")).to_have_text("太原市中心医院示例 医生")
    expect(newest.locator(".grant-scope")).to_have_text("指定的 1 项检查")
    expect(newest).to_contain_text("寻求第二诊疗意见")
    expect(newest.locator("[data-state=active]")).to_have_text("有效")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # type: ignore[index]
    assert_accessible(page)
    screenshot(page, f"patient-grants-{size}")

    grant_id = newest.get_attribute("data-grant")
    page.once("dialog", lambda dialog: dialog.accept())
    newest.locator("button.danger").click()
    expect(page.locator("[data-done=grant-revoked]")).to_be_visible()
    revoked = page.locator(f"[data-grant='{grant_id}']")
    expect(revoked).to_have_attribute("data-state", "revoked")
    expect(revoked.locator(".badge[data-state=revoked]")).to_have_text("已撤销")
    expect(revoked.locator("button.danger")).to_have_count(0)


def test_what_the_api_refuses_is_said_on_the_form_and_a_hospital_can_be_authorized(
    new_page: NewPage, demo_site: DemoSite
) -> None:
    page = new_page("phone")
    sign_in_as(page, demo_site, ELDER)
    open_new_grant_form(page)
    page.fill("#doctor", "no-such-doctor")
    page.click("#grant-form button[type=submit]")
    error = page.locator("#form-error")
    expect(error).to_have_attribute("data-error-code", "grantee-not-a-doctor")
    expect(error).to_contain_text("没有使用该账号的在职医生")
    expect(page.locator("#doctor")).to_have_value("no-such-doctor")  # what was typed is kept
    assert_accessible(page)

    page.eval_on_selector("#grant-form", "form => { form.noValidate = true; }")  # past the browser's own check
    page.fill("#doctor", "tych-doctor")
    page.fill("#days", "999")
    page.click("#grant-form button[type=submit]")
    expect(error).to_have_attribute("data-error-code", "invalid-request")
    expect(error.locator("[data-field=days]")).to_have_text("有效天数")

    page.check("#grantee-institution")
    page.fill("#institution", "tych")
    page.fill("#days", "30")
    page.check("#scope-modality")
    page.click("#grant-form button[type=submit]")
    expect(page.locator("[data-done=grant-created]")).to_be_visible()
    newest = page.locator("#grants > li").first
    expect(newest.locator(".grantee")).to_have_text("太原市中心医院示例")
    expect(newest).to_contain_text("该医院的所有医生")
    expect(newest.locator(".grant-scope")).to_contain_text("仅限")
    page.once("dialog", lambda dialog: dialog.accept())
    newest.locator("button.danger").click()
    expect(page.locator("#grants > li").first).to_have_attribute("data-state", "revoked")
