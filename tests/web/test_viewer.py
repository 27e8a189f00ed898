"""The study page and its image viewer in real Chromium: a patient opens a study from the timeline, scrolls the
slices, changes window/level, zooms, plays the ultrasound loop; a study that is not theirs is a 404 page; a doctor
under the demo's consent sees the same page. Every image comes from WADO-RS ``/rendered`` with the browser's cookie.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import DemoSite, NewPage, assert_accessible, screenshot, sign_in_patient, sign_in_staff

STUDY_LINKS = "a[href^='/web/studies/']"
DICOM_JSON = {"Accept": "application/dicom+json"}


def wait_until_shown(page: Page) -> None:
    """The canvas shows the image the viewer wants (loaded and drawn), nothing is loading."""
    page.wait_for_function(
        """() => {
            const viewer = document.getElementById("viewer");
            return viewer.dataset.ready === "true" && viewer.dataset.shownUrl === viewer.dataset.wantedUrl
                && !viewer.hasAttribute("aria-busy");
        }"""
    )


def canvas_digest(page: Page) -> str:
    """A hash of the canvas's pixels (the image as drawn, not its URL)."""
    data_url = page.evaluate("() => document.getElementById('viewer-canvas').toDataURL('image/png')")
    return hashlib.sha256(data_url.encode()).hexdigest()


def brightest_pixel(page: Page) -> int:
    return int(
        page.evaluate(
            """() => {
                const canvas = document.getElementById("viewer-canvas");
                const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
                let brightest = 0;
                for (let i = 0; i < pixels.length; i += 4) brightest = Math.max(brightest, pixels[i]);
                return brightest;
            }"""
        )
    )


def viewer_data(page: Page, name: str) -> str:
    return str(page.get_attribute("#viewer", f"data-{name}"))


def study_uid_of_modality(page: Page, modality: str) -> str:
    """The signed-in patient's study of ``modality``, asked of QIDO-RS with the browser's own cookie."""
    found = page.request.get("/dicomweb/studies", params={"ModalitiesInStudy": modality}, headers=DICOM_JSON)
    assert found.ok, found.status
    return str(found.json()[0]["0020000D"]["Value"][0])


def sign_in_seed_patient(page: Page, site: DemoSite, seed_index: int) -> None:
    """Sign in as the demo's ``seed_index``-th patient (0-based, as seeded), wherever the issuer's list puts them."""
    listed = page.request.get(f"{site.url}/dev-ehc/").json()["patients"]
    card = site.seed.patients[seed_index].health_card
    sign_in_patient(page, next(i for i, p in enumerate(listed, start=1) if p["health_card"] == card))


def seed_index_with(site: DemoSite, modality: str) -> int:
    return next(study.patient_index for study in site.seed.studies if study.spec.modality == modality)


def open_first_study(page: Page) -> None:
    page.locator(STUDY_LINKS).first.click()
    page.wait_for_url("**/web/studies/**")
    wait_until_shown(page)


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_a_patient_opens_a_study_from_the_timeline_and_sees_images_and_the_report(new_page: NewPage, size: str) -> None:
    page = new_page(size)
    sign_in_patient(page, 1)
    open_first_study(page)
    expect(page.locator("h1")).to_contain_text("CT")
    thumbnail = page.locator(".series-thumb img").first
    expect(thumbnail).to_be_visible()
    page.wait_for_function("() => document.querySelector('.series-thumb img').naturalWidth > 0")
    report = page.locator(".report-text").first
    expect(report).to_contain_text("检查所见")
    expect(report).not_to_contain_text("姓名：张")  # the stored report is de-identified
    assert brightest_pixel(page) > 50, "the first slice is drawn, not a black canvas"
    expect(page.locator("[data-overlay=position]")).to_have_text("图像 1 / 4")
    expect(page.locator("#viewer .top-left")).to_contain_text(page.inner_text("#study-hospital"))
    expect(page.locator("#viewer-canvas")).to_have_attribute("aria-label", "胸部CT平扫 CT, 图像 1 / 4")
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]  # type: ignore[index]
    assert_accessible(page)
    screenshot(page, f"study-viewer-{size}")


def test_the_wheel_and_the_keys_scroll_through_the_slices(new_page: NewPage) -> None:
    page = new_page("desktop")
    sign_in_patient(page, 1)
    open_first_study(page)
    first = canvas_digest(page)
    page.hover("#viewer-canvas")
    page.mouse.wheel(0, 100)
    expect(page.locator("#viewer")).to_have_attribute("data-index", "2")
    wait_until_shown(page)
    second = canvas_digest(page)
    assert second != first, "the next slice is another image"
    assert "/instances/" in viewer_data(page, "shown-url")
    canvas = page.locator("#viewer-canvas")
    canvas.focus()
    page.keyboard.press("ArrowDown")
    expect(page.locator("[data-overlay=position]")).to_have_text("图像 3 / 4")
    wait_until_shown(page)
    assert canvas_digest(page) not in {first, second}
    page.keyboard.press("End")
    expect(page.locator("#viewer")).to_have_attribute("data-index", "4")
    page.keyboard.press("PageUp")
    expect(page.locator("#viewer")).to_have_attribute("data-index", "3")
    page.keyboard.press("Home")
    wait_until_shown(page)
    expect(page.locator("#viewer")).to_have_attribute("data-index", "1")
    assert canvas_digest(page) == first, "back at the first slice, the same pixels"
    page.mouse.wheel(0, -100)  # already at the first: stays
    expect(page.locator("#viewer")).to_have_attribute("data-index", "1")
    page.fill("#viewer-slider", "4")
    expect(page.locator("[data-overlay=position]")).to_have_text("图像 4 / 4")


def test_a_swipe_on_a_phone_goes_to_the_next_slices(new_page: NewPage) -> None:
    page = new_page("phone")
    sign_in_patient(page, 1)
    open_first_study(page)
    expect(page.locator("button[data-tool=browse]")).to_have_attribute("aria-pressed", "true")
    first = canvas_digest(page)
    page.locator("#viewer-canvas").scroll_into_view_if_needed()
    box = page.locator("#viewer-canvas").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8  # touch points are in the viewport
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for moved in range(10, 50, 10):
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y - moved}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    expect(page.locator("#viewer")).to_have_attribute("data-index", "3")  # 40 px up: two slices on
    wait_until_shown(page)
    assert canvas_digest(page) != first


def test_window_level_by_drag_and_by_preset_changes_the_pixels(new_page: NewPage) -> None:
    page = new_page("desktop")
    sign_in_patient(page, 1)
    open_first_study(page)
    own = canvas_digest(page)
    assert viewer_data(page, "window") == "own"
    box = page.locator("#viewer-canvas").bounding_box()
    assert box is not None
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.move(*centre)
    page.mouse.down()
    page.mouse.move(centre[0] + 80, centre[1] + 40, steps=4)
    page.mouse.up()
    wait_until_shown(page)
    dragged_window = viewer_data(page, "window")
    assert dragged_window != "own"
    center, width = (int(v) for v in dragged_window.split(","))
    assert width > 400 and center > 40, "right widens, down raises the level"
    assert f"window={center}%2C{width}%2Clinear" in viewer_data(page, "shown-url")
    dragged = canvas_digest(page)
    assert dragged != own
    expect(page.locator("[data-overlay=window]")).to_have_text(f"窗宽 {width} 窗位 {center}")
    page.get_by_role("button", name="肺窗").click()
    expect(page.get_by_role("button", name="肺窗")).to_have_attribute("aria-pressed", "true")
    wait_until_shown(page)
    assert viewer_data(page, "window") == "-600,1500"
    assert canvas_digest(page) not in {own, dragged}
    page.get_by_role("button", name="医院默认窗").click()
    wait_until_shown(page)
    assert canvas_digest(page) == own, "the hospital's own window again, the same pixels"


def test_zoom_and_move_change_the_view_and_fit_restores_it(new_page: NewPage) -> None:
    page = new_page("desktop")
    sign_in_patient(page, 1)
    open_first_study(page)
    fitted = canvas_digest(page)
    page.get_by_role("button", name="放大").click()
    expect(page.locator("[data-overlay=zoom]")).to_have_text("125%")
    zoomed = canvas_digest(page)
    assert zoomed != fitted
    page.get_by_role("button", name="平移").click()
    box = page.locator("#viewer-canvas").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 160, box["y"] + 130, steps=3)
    page.mouse.up()
    assert canvas_digest(page) not in {fitted, zoomed}
    assert viewer_data(page, "window") == "own", "moving the image does not touch the window"
    page.get_by_role("button", name="适应窗口").click()
    expect(page.locator("[data-overlay=zoom]")).to_have_text("100%")
    assert canvas_digest(page) == fitted


def test_cine_plays_the_frames_of_the_ultrasound_loop(new_page: NewPage, demo_site: DemoSite) -> None:
    page = new_page("desktop")
    sign_in_seed_patient(page, demo_site, seed_index_with(demo_site, "US"))
    page.goto(f"/web/studies/{study_uid_of_modality(page, 'US')}")
    wait_until_shown(page)
    expect(page.locator("[data-overlay=position]")).to_have_text("帧 1 / 4")
    # The demo's ultrasound carries a stored window (1000/600) above all its 8-bit values, so it shows black;
    # the 40/80 preset spans them and makes the frames visible (and different from each other).
    page.get_by_role("button", name="脑窗").click()
    wait_until_shown(page)
    first = canvas_digest(page)
    assert brightest_pixel(page) > 50
    page.get_by_role("button", name="播放").click()
    expect(page.locator("#viewer-play")).to_have_text("暂停")
    expect(page.locator("#viewer")).to_have_attribute("data-shown-index", "3")
    expect(page.locator("#viewer")).to_have_attribute("data-shown-index", "1")  # it loops
    page.get_by_role("button", name="暂停").click()
    expect(page.locator("#viewer")).to_have_attribute("data-playing", "false")
    page.locator("#viewer-canvas").focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    expect(page.locator("[data-overlay=position]")).to_have_text("帧 2 / 4")
    wait_until_shown(page)
    assert "/frames/2/rendered" in viewer_data(page, "shown-url")
    assert canvas_digest(page) != first


def test_a_study_the_patient_may_not_see_is_the_404_page(new_page: NewPage, demo_site: DemoSite) -> None:
    owner = new_page("desktop")
    sign_in_seed_patient(owner, demo_site, 0)
    not_theirs = study_uid_of_modality(owner, "MR")
    page = new_page("desktop")
    sign_in_seed_patient(page, demo_site, seed_index_with(demo_site, "US"))  # neither owner nor family proxy
    response = page.goto(f"/web/studies/{not_theirs}")
    assert response is not None and response.status == 404
    expect(page.locator("[data-error-code=study-not-found]")).to_be_visible()
    expect(page.locator("#viewer")).to_have_count(0)


def test_a_doctor_the_patient_authorized_sees_the_same_study_page(new_page: NewPage, demo_site: DemoSite) -> None:
    owner = new_page("desktop")
    sign_in_seed_patient(owner, demo_site, 0)  # the demo's patient who authorized dtth-doctor
    study_uid = study_uid_of_modality(owner, "MR")
    page = new_page("desktop")
    sign_in_staff(page, demo_site, "dtth-doctor")
    page.goto(f"/web/studies/{study_uid}")
    wait_until_shown(page)
    expect(page.locator(".report-text")).to_contain_text("头颅MR平扫")
    expect(page.locator("#study-hospital")).to_have_text(re.compile("示例$"))  # the uploading hospital's name
    assert brightest_pixel(page) > 50
    expect(page.locator(".back-link a")).to_have_attribute("href", "/web/doctor/")
