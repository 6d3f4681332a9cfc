"""The ways in people expect, in headless Chromium: refusals in plain words beside the drop zone,
a 12 MB photo shrunk before it travels, paste of an image and of its address, the webcam, and a
result that keeps its own address (reload, recent list, expiry)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from tests.support.browser import screenshot
from tests.support.httpserver import local_server, serve_bytes
from tests.web.test_browser import assert_results_shown, wait_for_result

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASTE = """([name, type, bytes]) => {
    const data = new DataTransfer();
    if (bytes) data.items.add(new File([new Uint8Array(bytes)], name, {type}));
    else data.setData('text/plain', name);
    document.body.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true}));
}"""


def test_files_that_are_no_photo_are_refused_beside_the_drop_zone(open_page, tmp_path):
    page = open_page()
    assert "JPEG, PNG, WebP, HEIC, AVIF" in page.locator("#drop-formats").inner_text()
    assert "up to 10 MB" in page.locator("#drop-formats").inner_text()
    notes, report = tmp_path / "notes.txt", tmp_path / "report.pdf"
    notes.write_text("hello")
    report.write_bytes(b"%PDF-1.4 not a photo")
    page.set_input_files("#photo-input", [str(notes), str(report)])
    page.wait_for_selector("#photo-error:not(:empty)")
    error = page.locator("#photo-error").inner_text()
    assert "notes.txt is not an image we accept" in error and "report.pdf is not an image we accept" in error
    heic = tmp_path / "big.heic"  # this browser cannot draw HEIC, so it cannot shrink it either
    heic.write_bytes(b"\0" * (11 * 2**20))
    page.set_input_files("#photo-input", str(heic))
    page.wait_for_function("() => document.querySelector('#photo-error').textContent.includes('big.heic is 11.0 MB')")
    assert "cannot shrink it" in page.locator("#photo-error").inner_text()
    screenshot(page, "state-refused-files.png")


def test_a_12_mb_phone_photo_is_shrunk_in_the_browser_and_analysed(open_page, tmp_path):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, size=(1900, 2600, 3), dtype=np.uint8)  # noise: PNG cannot compress it
    big = tmp_path / "phone.png"
    Image.fromarray(noise).save(big, compress_level=1)
    assert big.stat().st_size > 12 * 2**20
    page = open_page()
    sizes = []
    page.on("request", lambda r: sizes.append(len(r.post_data_buffer or b"")) if "update-component" in r.url else None)
    page.set_input_files("#photo-input", str(big))
    wait_for_result(page, "phone.png")
    assert_results_shown(page)
    assert page.locator("#photo-error").inner_text() == ""
    assert max(sizes) < 4 * 2**20  # what travelled is the shrunk JPEG, not the 12 MB original


def test_a_pasted_image_and_a_pasted_address_are_analysed(open_page, sample_photos):
    page = open_page()
    page.evaluate(PASTE, ["clipboard.jpg", "image/jpeg", list(sample_photos[0].read_bytes())])
    wait_for_result(page, "clipboard.jpg")
    with local_server({"/pasted.jpg": serve_bytes(sample_photos[-1].read_bytes(), "image/jpeg")}) as base:
        page.evaluate(PASTE, [f"{base}/pasted.jpg", "", None])
        wait_for_result(page, "pasted.jpg")
    assert page.locator("#url").input_value().endswith("/pasted.jpg")


def test_a_webcam_snapshot_is_analysed(open_page):
    page = open_page()
    page.click("#webcam-open")
    page.wait_for_function("() => document.querySelector('#webcam-video').videoWidth > 0")
    screenshot(page, "state-webcam.png")
    page.click("#webcam-snap")
    wait_for_result(page, "webcam snapshot.jpg")
    assert page.locator("#webcam").is_hidden()


def test_a_phone_offers_its_camera(open_page):
    page = open_page(375)
    assert page.locator(".sw-camera").is_visible()
    assert page.locator("#camera-input").get_attribute("capture") == "environment"
    assert page.locator("#webcam-open").is_hidden()
    screenshot(page, "state-phone-camera.png")


def test_a_result_keeps_its_address_until_it_expires(open_page, sample_photos):
    from django.core.cache import cache

    page = open_page()
    page.locator(".sw-sample").first.click()
    wait_for_result(page, f"sample {sample_photos[0].name}")
    key = re.search(r"\?result=([A-Za-z0-9_-]{24})$", page.url).group(1)
    headline = page.locator("#headline").inner_text()
    page.reload()
    wait_for_result(page, f"sample {sample_photos[0].name}")
    assert page.locator("#headline").inner_text() == headline
    recent = page.locator(".sw-recent-item")
    assert recent.count() == 1 and sample_photos[0].name in recent.first.inner_text()
    assert page.evaluate("JSON.parse(localStorage.getItem('sceneweb.recent'))[0].key") == key

    page.locator(".sw-sample").nth(1).click()
    wait_for_result(page, f"sample {sample_photos[1].name}")
    assert page.locator(".sw-recent-item").count() == 2
    page.locator(".sw-recent-item").nth(1).click()  # the first photo again, one click away
    page.wait_for_function("h => document.querySelector('#headline').textContent === h", arg=headline)

    cache.delete(f"sceneweb:panel:{key}")
    page.goto(f"{page.url.split('?')[0]}?result={key}")
    page.wait_for_selector("#error:not(:empty)")
    assert page.locator("#error").inner_text().startswith("This result has expired")
    screenshot(page, "state-expired.png")


def test_the_rate_limit_is_said_beside_the_sample_that_was_clicked(open_page, service, sample_photos, frozen_minute):
    service.SCENEWEB_RATE_LIMIT = 1
    page = open_page()
    page.locator(".sw-sample").first.click()
    wait_for_result(page, f"sample {sample_photos[0].name}")
    page.locator(".sw-sample").nth(1).click()
    page.wait_for_selector("#sample-error:not(:empty)")
    assert page.locator("#sample-error").inner_text().startswith("Too many analyses from your address")


def test_a_refused_request_and_an_unreachable_server_are_said_beside_the_input(open_page, sample_photos):
    page = open_page()
    too_large = json.dumps({"error": "The request is too large; the limit is 13 MB.", "code": "request_too_large"})
    page.route("**/_dash-update-component", lambda route: route.fulfill(status=413, body=too_large))
    page.set_input_files("#photo-input", str(sample_photos[0]))
    page.wait_for_selector("#photo-error:not(:empty)")
    assert page.locator("#photo-error").inner_text() == "The request is too large; the limit is 13 MB."
    assert page.locator("#photo-note").inner_text() == ""
    page.unroute("**/_dash-update-component")
    page.route("**/_dash-update-component", lambda route: route.abort())
    page.locator(".sw-sample").first.click()
    page.wait_for_selector("#sample-error:not(:empty)")
    assert page.locator("#sample-error").inner_text().startswith("The server could not be reached")
    assert page.locator("#url-go").is_enabled()
