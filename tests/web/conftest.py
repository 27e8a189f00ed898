"""The portals end to end: the demo seeded into a fresh data dir, served on loopback, driven in real headless
Chromium (Debian's ``chromium`` through Python ``playwright``; never a downloaded browser).

One demo site and one browser per test worker; each test gets fresh browser contexts (no shared cookies). Pages are
checked at phone size (360 × 740, touch) and desktop size (1280 × 800); screenshots land in
``test-artifacts/screenshots`` (the README shows a few of them).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from imaging_cloud.app import create_app
from imaging_cloud.demo.loopback import serve_on_loopback
from imaging_cloud.demo.seed import DemoScale, SeedResult, seed_demo
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings

CHROMIUM = os.environ.get("IMAGING_CLOUD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
#: Small but real: 64×64 images, enough slices and frames to scroll and play.
WEB_DEMO = DemoScale(rows=64, ct_slices=4, mr_slices=3, us_frames=4, patients=3)

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
SIZES = {"phone": PHONE, "desktop": DESKTOP}


@dataclass(frozen=True)
class DemoSite:
    url: str
    runtime: Runtime
    seed: SeedResult

    def password_of(self, username: str) -> str:
        return next(a.password for a in self.seed.accounts if a.username == username)


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSite]:
    data_dir = tmp_path_factory.mktemp("web-demo")
    settings = Settings(data_dir=data_dir, environment="development")
    seed = seed_demo(settings, scale=WEB_DEMO, parallel=2)
    runtime = Runtime.build(settings)
    try:
        with serve_on_loopback(create_app(runtime=runtime)) as url:
            yield DemoSite(url=url, runtime=runtime, seed=seed)
    finally:
        runtime.engine.dispose()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run scripts/install-system-packages")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


NewPage = Callable[..., Page]


@pytest.fixture
def new_page(browser: Browser, demo_site: DemoSite) -> Iterator[NewPage]:
    """``new_page("phone")``: a page in a fresh context (own cookies) at that size, zh-CN, failing on JS errors."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make(size: str = "desktop") -> Page:
        context = browser.new_context(base_url=demo_site.url, locale="zh-CN", **SIZES[size])
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: (
                errors.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors or CSP violations in the page: {errors}"


def screenshot(page: Page, name: str) -> None:
    """Keep a full-page screenshot of what the test saw (``test-artifacts/screenshots/<name>.png``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def assert_accessible(page: Page) -> None:
    """axe-core (bundled with axe-playwright-python) finds no WCAG 2 A/AA violation on the page as it is now."""
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]}})
    violations = results.response["violations"]
    assert not violations, json.dumps(
        [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in violations], ensure_ascii=False
    )


def sign_in_patient(page: Page, index: int = 1) -> None:
    """Sign in as demo patient ``index`` (1-based, in the demo's order) through the development EHC issuer."""
    page.goto("/web/sign-in")
    page.click("#ehc-sign-in")
    page.click(f"[data-demo-patient='{index}']")
    page.wait_for_url("**/web/patient/")


def sign_in_staff(page: Page, site: DemoSite, username: str) -> None:
    page.goto("/web/sign-in")
    page.fill("#username", username)
    page.fill("#password", site.password_of(username))
    page.click("#staff-sign-in button[type=submit]")
    page.wait_for_load_state()


def remove_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
