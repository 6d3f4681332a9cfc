"""End to end in headless Chromium (Debian's, driven by Playwright): the three ways in, every output, errors.

Screenshots (desktop and 375 px phone) are kept in artifacts/ for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from classifier.testing.paths import REPO
from tests.support.httpserver import local_server, serve_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO / "artifacts"
WAIT_MS = 60_000  # an analysis on a loaded 2-core CI machine takes well under this


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (`apt-get install -y chromium`; .ci/run does this)")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API keeps an event loop on this thread; the database set-up of the
        # tests is still plain synchronous code, so Django's async guard would misfire here.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def panel(browser, live_server, service):
    """A fresh desktop page on the live server."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(live_server.url)
    page.wait_for_selector("#upload input[type=file]", state="attached")
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_status(page, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#status')?.textContent === t", arg=text)


def assert_results_shown(page) -> None:
    bars = page.locator(".sw-bar:not(.is-unused)")
    assert bars.count() == 5
    assert all(bars.nth(i).locator(".sw-bar-value").inner_text().endswith("%") for i in range(5))
    assert page.locator("#io-verdict").inner_text().lower() in ("indoor", "outdoor")
    assert page.locator("#heat").get_attribute("src").startswith("data:image/jpeg;base64,")
    assert page.locator("#photo").get_attribute("src").startswith("data:image/jpeg;base64,")
    assert page.locator("#heat").is_visible()


def test_a_person_analyses_a_photo_three_ways(panel, sample_photos):
    page = panel
    page.set_input_files("#upload input[type=file]", str(sample_photos[0]))
    wait_for_status(page, "Analysed your photo.")
    assert_results_shown(page)
    assert "densenet201_sunattributes.pth" in page.locator("#attributes").inner_text()
    assert page.locator("#timing").inner_text().startswith("Analysed in ")
    screenshot(page, "panel-desktop.png")

    with local_server({"/photo.jpg": serve_bytes(sample_photos[-1].read_bytes(), "image/jpeg")}) as base:
        page.fill("#url", f"{base}/photo.jpg")
        page.press("#url", "Enter")
        wait_for_status(page, "Analysed the photo at that address.")
    assert_results_shown(page)

    page.locator(".sw-sample").first.click()
    wait_for_status(page, f"Analysed sample {sample_photos[0].name}.")
    assert_results_shown(page)


def test_clicking_a_bar_switches_the_heatmap_and_the_switch_hides_it(panel, sample_photos):
    page = panel
    page.locator(".sw-sample").first.click()
    wait_for_status(page, f"Analysed sample {sample_photos[0].name}.")
    first_heat = page.locator("#heat").get_attribute("src")
    third = page.locator(".sw-bar").nth(2)
    third_label = third.locator(".sw-bar-label").inner_text()
    third.click()
    page.wait_for_selector(".sw-bar.is-selected >> nth=0")
    page.wait_for_function(
        "label => document.querySelector('#heat-caption')?.textContent.includes(label)", arg=third_label
    )
    assert "is-selected" in third.get_attribute("class")
    assert page.locator("#heat").get_attribute("src") != first_heat

    page.locator(".sw-switch input").uncheck()
    page.wait_for_selector("#heat", state="hidden")


def test_a_refused_url_shows_an_inline_error_and_the_page_stays_usable(panel, sample_photos):
    page = panel
    page.fill("#url", "http://10.0.0.1/photo.jpg")
    page.click("#url-go")
    page.wait_for_selector(".sw-error:not(:empty)")
    assert page.locator(".sw-error").inner_text().startswith("We do not fetch from a private network")
    page.locator(".sw-sample").first.click()
    wait_for_status(page, f"Analysed sample {sample_photos[0].name}.")
    assert_results_shown(page)
    assert page.locator(".sw-error").inner_text() == ""


RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener(
    'securitypolicyviolation', e => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_the_page_runs_under_its_content_security_policy(browser, live_server, service, sample_photos):
    """Nothing the page (Dash's renderer included) loads or runs is blocked by its policy, and it still
    analyses a photo, switches the heatmap and downloads the PNG."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.add_init_script(RECORD_VIOLATIONS)  # before any of the page's own scripts
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        answer = page.goto(live_server.url)
        assert "script-src 'self' 'sha256-" in answer.headers["content-security-policy"]
        page.wait_for_selector("#upload input[type=file]", state="attached")
        page.locator(".sw-sample").first.click()
        wait_for_status(page, f"Analysed sample {sample_photos[0].name}.")
        assert_results_shown(page)
        page.locator(".sw-bar").nth(1).click()
        page.wait_for_function("() => document.querySelectorAll('.sw-bar')[1].classList.contains('is-selected')")
        with page.expect_download() as download:
            page.click("#get-png")
        assert download.value.suggested_filename.startswith("scene-heatmap-")
        assert page.evaluate("window.violations") == []
        assert problems == []
    finally:
        context.close()


def test_the_page_fits_a_phone(browser, live_server, service, sample_photos):
    context = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(live_server.url)
        page.wait_for_selector("#upload input[type=file]", state="attached")
        page.set_input_files("#upload input[type=file]", str(sample_photos[0]))
        wait_for_status(page, "Analysed your photo.")
        assert_results_shown(page)
        screenshot(page, "panel-phone.png")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
    finally:
        context.close()


def test_a_fresh_install_shows_ten_attributes_and_where_they_come_from(
    browser, live_server, service, use_models, fresh_models_dir, sample_photos
):
    use_models(fresh_models_dir)  # what `fetch_models` installs: no trained head, CSAIL's attribute matrix
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(live_server.url)
    page.wait_for_selector("#upload input[type=file]", state="attached")
    page.set_input_files("#upload input[type=file]", str(sample_photos[0]))
    wait_for_status(page, "Analysed your photo.")
    assert_results_shown(page)
    assert page.locator("#attributes .sw-attrs li").count() == 10
    origin = page.locator("#attributes .sw-attr-source").inner_text()
    assert "WideResNet-18" in origin and "raw linear responses, not probabilities" in origin
    screenshot(page, "panel-fresh-install.png")
    context.close()
