"""The service-desk page in Chromium: the clerk attests an ID check, sees the person's study list (never images),
prints a one-time code whose QR and text a doctor can really use, sets up a family member and registers a child,
and ends the session.

Links the test creates are removed afterwards through the API (the demo site is shared by a worker's tests).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import secrets
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from imaging_cloud.demo.synthetic import national_id
from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot, sign_in_staff
from tests.web.test_doctor_portal import DemoApi, DemoPerson

CODE = re.compile(r"^[A-Z2-9]{5}-[0-9]{6}$")


@pytest.fixture
def demo_api(demo_site: DemoSite) -> Iterator[DemoApi]:
    api = DemoApi(demo_site)
    yield api
    api.client.close()


def national_id_of(site: DemoSite, person: DemoPerson) -> str:
    return next(p.national_id for p in site.seed.patients if p.health_card == person.health_card)


def start_session(page: Page, site: DemoSite, person: DemoPerson) -> str:
    """Open a desk session for ``person`` after the (attested) ID check; the session page's URL."""
    page.select_option("#document_type", "resident-id-card")
    page.fill("#national_id", national_id_of(site, person))
    page.check("#attested")
    page.click("#start-session button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/web/desk/sessions/[0-9]+/{person.ref}$"))
    return page.url


def test_the_desk_checks_an_id_lists_the_studies_and_prints_a_code_a_doctor_can_use(
    new_page: NewPage, demo_site: DemoSite, demo_api: DemoApi
) -> None:
    person = demo_api.person(2)
    page = new_page("desktop")
    sign_in_staff(page, demo_site, "sxph-desk")
    expect(page).to_have_url(f"{demo_site.url}/web/desk/")
    expect(page.locator("h1")).to_have_text("服务台")
    assert_accessible(page)

    page.fill("#national_id", national_id_of(demo_site, person))
    page.eval_on_selector("#start-session", "form => { form.noValidate = true; }")  # the box left unticked
    with page.expect_response("**/web/desk/sessions") as answered:
        page.click("#start-session button[type=submit]")
    assert answered.value.status == 422
    expect(page.locator("#desk-error")).to_have_attribute("data-error-code", "attestation-required")
    expect(page.locator("#desk-error")).to_have_text("请确认您已当面核验身份证件。")
    assert national_id_of(demo_site, person) not in page.content()

    session_url = start_session(page, demo_site, person)
    expected_studies = sum(1 for study in demo_site.seed.studies if study.patient_index == 1)
    expect(page.locator("#desk-studies tbody tr")).to_have_count(expected_studies)
    expect(page.locator("#desk-studies a[href^='/web/studies/']")).to_have_count(0)  # a list, never images
    assert_accessible(page)
    screenshot(page, "desk")

    page.select_option("#ttl_seconds", "600")
    page.click("#print-code-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("给医生的影像调阅码")
    qr = page.locator("#slip-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    code = page.locator("#slip-code").inner_text().strip()
    assert CODE.match(code), code
    expect(page.locator("#print-slip")).to_be_visible()
    assert code not in page.url
    assert_accessible(page)
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.locator("#print-slip")).to_be_hidden()
    expect(qr).to_be_visible()
    expect(page.locator("#slip-code")).to_be_visible()
    screenshot(page, "desk-code-print")
    page.emulate_media(media="screen")

    redeemed = demo_api.client.post("/doctor/codes/redeem", headers=demo_api.staff("tych-doctor"), json={"code": code})
    assert redeemed.status_code == 200 and redeemed.json()["person_ref"] == person.ref
    demo_api.revoke_code(person, code.split("-")[0])  # and with it the doctor's session

    page.click("text=返回办理页面")
    expect(page.locator(f"#code-list [data-code='{code.split('-')[0]}']")).to_have_attribute("data-state", "revoked")
    page.click("#end-session button[type=submit]")
    expect(page).to_have_url(f"{demo_site.url}/web/desk/?done=ended")
    expect(page.locator("#desk-done")).to_be_visible()
    ended = page.goto(session_url)
    assert ended is not None and ended.status == 404  # the clerk's access ended with the session


def _minor_national_id() -> str:
    today = dt.date.today()
    return national_id(random.Random(secrets.randbits(64)), today.replace(year=today.year - 8, day=1), "F")


def test_at_the_desk_a_family_member_is_added_and_a_child_registered(
    new_page: NewPage, demo_site: DemoSite, demo_api: DemoApi
) -> None:
    person, family = demo_api.person(3), demo_api.person(1)
    child_id = _minor_national_id()
    page = new_page("phone")
    try:
        sign_in_staff(page, demo_site, "sxph-desk")
        start_session(page, demo_site, person)

        page.check("#proxy-form input[name=id_kind][value=health_card]")
        page.fill("#proxy-identifier", family.health_card)
        page.select_option("#proxy-relationship", "child")
        page.click("#proxy-form button[type=submit]")
        expect(page.locator("#desk-done")).to_have_attribute("data-done", "proxy-added")
        expect(page.locator("#proxy-list li")).to_have_count(1)
        expect(page.locator("#proxy-list li")).to_contain_text("子女")
        expect(page.locator("#proxy-list li")).to_contain_text("查看影像和报告")
        assert family.health_card not in page.content() and family.health_card not in page.url

        page.fill("#child-national-id", national_id_of(demo_site, family))
        page.fill("#child-name", "成年人")
        page.click("#child-form button[type=submit]")
        expect(page.locator("#child-error")).to_have_attribute("data-error-code", "not-a-minor")

        page.fill("#child-national-id", child_id)
        page.fill("#child-name", "小明")
        page.select_option("#child-relationship", "guardian")
        page.click("#child-form button[type=submit]")
        expect(page.locator("#desk-done")).to_have_attribute("data-done", "child-registered")
        assert "小明" not in page.content() and child_id not in page.url
        assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # type: ignore[index]
        assert_accessible(page)

        page.click("#end-session button[type=submit]")
        expect(page.locator("#desk-done")).to_have_attribute("data-done", "ended")
    finally:
        _remove_links(demo_api, person, family, child_id)


def _remove_links(api: DemoApi, person: DemoPerson, family: DemoPerson, child_id: str) -> None:
    """Take back what the test set up: the family link (by the person) and the child's guardian link (at the desk)."""
    for link in api.client.get(f"/persons/{person.ref}/proxies", headers=person.headers).json():
        if link["active"] and link["proxy_ref"] == family.ref:
            api.client.delete(f"/persons/{person.ref}/proxies/{link['id']}", headers=person.headers)
    desk = api.staff("sxph-desk")
    opened = api.client.post(
        "/desk/sessions",
        headers=desk,
        json={"national_id": child_id, "document_type": "household-register", "attested": True},
    )
    if opened.status_code != 201:
        return  # the child was never registered
    child_ref, session_id = opened.json()["person_ref"], opened.json()["session_id"]
    for link in api.client.get(f"/persons/{child_ref}/proxies", headers=desk).json():
        if link["active"]:
            api.client.delete(f"/persons/{child_ref}/proxies/{link['id']}", headers=desk)
    api.client.post(f"/desk/sessions/{session_id}/end", headers=desk)
