"""axe-core on every state of the page (initial, result, error, several photos) at 1366 px and on a
375 px phone, in the light and the dark theme; keyboard use; one screenshot per state in artifacts/."""

from __future__ import annotations

import pytest

from tests.support.browser import screenshot, serious_violations
from tests.web.test_browser import wait_for_result

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAYOUTS = [(1366, "light"), (1366, "dark"), (375, "light"), (375, "dark")]


def assert_accessible(page, state: str) -> None:
    found = serious_violations(page)
    assert found == [], f"{state}: {found}"


@pytest.mark.parametrize(("width", "scheme"), LAYOUTS)
def test_every_state_has_no_serious_accessibility_violation(open_page, sample_photos, tmp_path, width, scheme):
    page = open_page(width, scheme)
    name = f"{'phone' if width < 500 else 'desktop'}-{scheme}"
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
    assert_accessible(page, "initial")
    screenshot(page, f"state-initial-{name}.png")

    page.locator(".sw-sample").first.click()
    wait_for_result(page, f"sample {sample_photos[0].name}")
    assert_accessible(page, "result")
    screenshot(page, f"state-result-{name}.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    if width < 500:  # the answer is scrolled into view on a phone
        assert page.evaluate("Math.abs(document.querySelector('#headline').getBoundingClientRect().top) < 200")

    page.fill("#url", "http://10.0.0.1/photo.jpg")
    page.click("#url-go")
    page.wait_for_selector("#url-error:not(:empty)")
    assert_accessible(page, "error")
    screenshot(page, f"state-error-{name}.png")

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff this is no JPEG")
    page.set_input_files("#photo-input", [str(sample_photos[0]), str(broken), str(sample_photos[1])])
    page.wait_for_selector(".sw-strip-item >> nth=2")
    wait_for_result(page, sample_photos[0].name)
    assert_accessible(page, "several photos")
    screenshot(page, f"state-several-{name}.png")


def test_the_page_is_usable_from_the_keyboard_with_a_visible_focus(open_page, sample_photos):
    page = open_page()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "photo-input"
    ring = page.evaluate("getComputedStyle(document.querySelector('#drop-zone')).outlineStyle")
    assert ring == "solid"  # the drop zone shows that its input has focus
    for _ in range(8):  # on to the first sample
        page.keyboard.press("Tab")
        if "sw-sample" in (page.evaluate("document.activeElement.className") or ""):
            break
    assert "sw-sample" in page.evaluate("document.activeElement.className")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    wait_for_result(page, f"sample {sample_photos[0].name}")
    page.locator(".sw-bar").nth(1).focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('.sw-bar')[1].getAttribute('aria-pressed') === 'true'")
    page.locator("#opacity").focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.querySelector('#heat').style.opacity === '0.45'")
