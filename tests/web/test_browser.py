"""End to end in headless Chromium (Debian's, driven by Playwright): the ways in, the answer first,
every output, and the page under its Content-Security-Policy.

Screenshots (desktop and 375 px phone) are kept in artifacts/ for a person to look at.
"""

from __future__ import annotations

import re

import pytest

from tests.support.browser import screenshot
from tests.support.httpserver import local_server, serve_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_result(page, name: str) -> None:
    """The live region announces `name: summary` once the answer is on the page."""
    page.wait_for_function("n => document.querySelector('#announce')?.textContent.startsWith(n + ': ')", arg=name)
    page.wait_for_function("() => !document.querySelector('#results').className.includes('is-previous')")


def assert_results_shown(page) -> None:
    bars = page.locator(".sw-bar:not(.is-unused)")
    assert bars.count() == 5
    assert all(bars.nth(i).locator(".sw-bar-value").inner_text().endswith("%") for i in range(5))
    assert page.locator("#io-verdict").inner_text().lower() in ("indoor", "outdoor")
    assert page.locator("#heat").get_attribute("src").startswith("data:image/jpeg;base64,")
    assert page.locator("#photo").get_attribute("src").startswith("data:image/jpeg;base64,")
    assert page.locator("#heat").is_visible()
    summary = page.locator("#summary").inner_text()
    assert summary.startswith(("An indoor scene, most likely ", "An outdoor scene, most likely "))
    assert page.locator("#photo").get_attribute("alt") == summary  # the summary is the photo's alt text
    top = bars.nth(0).locator(".sw-bar-label").inner_text()
    assert page.locator("#headline").inner_text().lower().startswith(top.lower())
    assert bars.nth(0).get_attribute("aria-pressed") == "true"


def test_a_person_analyses_a_photo_three_ways_and_reads_the_answer_first(open_page, sample_photos):
    page = open_page()
    page.set_input_files("#photo-input", str(sample_photos[0]))
    wait_for_result(page, sample_photos[0].name)
    assert_results_shown(page)
    assert page.locator("#photo-note").inner_text() == "Analysed 1 photo."
    assert not page.locator("#timing").is_visible()  # timings are behind "Details"
    page.locator(".sw-details summary").click()
    assert page.locator("#timing").inner_text().startswith("The server took ")
    assert "reading the photo" in page.locator("#timing").inner_text()
    assert page.locator(".sw-legend").is_visible()
    screenshot(page, "panel-desktop.png")

    with local_server({"/street.jpg": serve_bytes(sample_photos[-1].read_bytes(), "image/jpeg")}) as base:
        page.fill("#url", f"{base}/street.jpg")
        page.press("#url", "Enter")
        wait_for_result(page, "street.jpg")
    assert_results_shown(page)

    page.locator(".sw-sample").first.click()
    wait_for_result(page, f"sample {sample_photos[0].name}")
    assert_results_shown(page)


def test_while_an_address_is_fetched_the_button_waits_and_the_old_result_is_marked(open_page, sample_photos):
    import threading

    page = open_page()
    page.locator(".sw-sample").first.click()
    wait_for_result(page, f"sample {sample_photos[0].name}")
    release = threading.Event()

    def slow(handler):
        release.wait(30)
        serve_bytes(sample_photos[-1].read_bytes(), "image/jpeg")(handler)

    with local_server({"/slow.jpg": slow}) as base:
        page.fill("#url", f"{base}/slow.jpg")
        page.click("#url-go")
        page.wait_for_function("() => document.querySelector('#url-go').disabled")
        assert page.locator("#url-note").inner_text() == "Fetching the image, then analysing it…"
        assert "is-previous" in page.locator("#results").get_attribute("class")
        assert page.locator(".sw-previous-mark").is_visible()
        screenshot(page, "panel-busy.png")
        release.set()
        wait_for_result(page, "slow.jpg")
    assert page.locator("#url-go").is_enabled()
    assert page.locator("#url-note").inner_text() == ""
    assert not page.locator(".sw-previous-mark").is_visible()


def test_clicking_a_bar_switches_the_heatmap_and_the_switch_hides_it(open_page, sample_photos):
    page = open_page()
    page.locator(".sw-sample").first.click()
    wait_for_result(page, f"sample {sample_photos[0].name}")
    first_heat = page.locator("#heat").get_attribute("src")
    third = page.locator(".sw-bar").nth(2)
    third_label = third.locator(".sw-bar-label").inner_text()
    third.click()
    page.wait_for_function(
        "label => document.querySelector('#heat-caption')?.textContent.includes(label)", arg=third_label
    )
    assert third.get_attribute("aria-pressed") == "true"
    assert page.locator(".sw-bar").nth(0).get_attribute("aria-pressed") == "false"
    assert page.locator("#heat").get_attribute("src") != first_heat

    page.locator(".sw-switch input").uncheck()
    page.wait_for_selector("#heat", state="hidden")


def test_the_opacity_resets_for_each_new_photo(open_page, sample_photos):
    page = open_page()
    page.locator(".sw-sample").first.click()
    wait_for_result(page, f"sample {sample_photos[0].name}")
    page.locator("#opacity").fill("1")
    page.wait_for_function("() => document.querySelector('#heat').style.opacity === '1'")
    page.locator(".sw-sample").nth(1).click()
    wait_for_result(page, f"sample {sample_photos[1].name}")
    assert page.locator("#opacity").input_value() == "0.5"
    page.wait_for_function("() => document.querySelector('#heat').style.opacity === '0.5'")


RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener(
    'securitypolicyviolation', e => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_the_page_runs_under_its_content_security_policy(browser, live_server, service, sample_photos):
    """Nothing the page (Dash's renderer and sceneweb.js included) loads or runs is blocked by its
    policy, and it still analyses a photo, switches the heatmap and downloads the PNG."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.add_init_script(RECORD_VIOLATIONS)  # before any of the page's own scripts
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        answer = page.goto(live_server.url)
        assert "script-src 'self' 'sha256-" in answer.headers["content-security-policy"]
        page.wait_for_selector("#url-go")
        page.set_input_files("#photo-input", str(sample_photos[0]))
        wait_for_result(page, sample_photos[0].name)
        assert_results_shown(page)
        page.locator(".sw-bar").nth(1).click()
        page.wait_for_function("() => document.querySelectorAll('.sw-bar')[1].classList.contains('is-selected')")
        with page.expect_download() as download:
            page.click("#get-png")
        top = page.locator(".sw-bar").nth(0).locator(".sw-bar-label").inner_text()
        stem = sample_photos[0].stem.lower().replace("_", "-")
        assert download.value.suggested_filename.startswith(f"{stem}-")
        assert download.value.suggested_filename.endswith(".png")
        with page.expect_download() as download:
            page.click("#get-json")
        assert (
            download.value.suggested_filename
            == re.sub(r"[^a-z0-9]+", "-", f"{stem} {top.lower()}").strip("-") + ".json"
        )
        assert page.evaluate("window.violations") == []
        assert problems == []
    finally:
        context.close()


def test_a_fresh_install_shows_ten_attributes_each_with_its_own_heatmap(
    open_page, use_models, fresh_models_dir, sample_photos
):
    use_models(fresh_models_dir)  # what `fetch_models` installs: no trained head, CSAIL's attribute matrix
    page = open_page()
    page.set_input_files("#photo-input", str(sample_photos[0]))
    wait_for_result(page, sample_photos[0].name)
    assert_results_shown(page)
    assert page.locator("#attributes .sw-attrs li").count() == 10
    origin = page.locator("#attributes .sw-attr-source").inner_text()
    assert "WideResNet-18" in origin and "raw linear responses, not probabilities" in origin
    assert "or percentages" in origin
    assert not page.locator(".sw-attr-value").first.inner_text().endswith("%")
    scene_heat = page.locator("#heat").get_attribute("src")
    second = page.locator(".sw-attr").nth(1)
    label = second.locator(".sw-attr-label").inner_text()
    second.click()
    page.wait_for_function("l => document.querySelector('#heat-caption')?.textContent.includes(l)", arg=label)
    assert page.locator(".sw-attr").nth(1).get_attribute("aria-pressed") == "true"
    assert page.locator("#heat").get_attribute("src") != scene_heat
    assert page.locator(".sw-bar").nth(0).get_attribute("aria-pressed") == "false"
    screenshot(page, "panel-attribute-map.png")
