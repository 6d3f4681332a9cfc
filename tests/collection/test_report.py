"""`analyze --report DIR`: one self-contained page of the collection, looked at in headless Chromium."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from tests.support.browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path
from tests.support.photo_collections import photo_folder


@pytest.fixture(scope="module")
def report_page(tmp_path_factory, fresh_models_dir):
    from classifier.runtime import get_analyzer

    tmp = tmp_path_factory.mktemp("report")
    folder = photo_folder(tmp / "photos", 12)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    with pytest.MonkeyPatch.context() as patch:
        from django.conf import settings

        patch.setattr(settings, "SCENEWEB_MODELS_DIR", fresh_models_dir)
        get_analyzer.cache_clear()
        out = io.StringIO()
        call_command(
            "analyze",
            str(folder),
            "--out",
            str(tmp / "t.parquet"),
            "--workers",
            "1",
            "--report",
            str(tmp / "report"),
            stdout=out,
            stderr=io.StringIO(),
        )
    get_analyzer.cache_clear()
    assert f"Report: {tmp / 'report' / 'index.html'}" in out.getvalue()
    return tmp / "report" / "index.html"


def test_the_report_is_one_self_contained_page(report_page):
    page = report_page.read_text()
    assert not re.search(r"<script[^>]+src=", page) and "cdn" not in page.lower().split("<body>")[0]
    assert "Plotly.newPlot" in page
    assert "13 photos: 12 analysed, 1 failed." in page
    assert page.count('src="data:image/jpeg;base64,') >= 6  # thumbnail strips for the top scenes


@pytest.mark.browser
def test_the_report_draws_its_charts_and_thumbnails_in_a_browser(report_page):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.route(
            "**/*",
            lambda route: route.abort() if not route.request.url.startswith(("file:", "data:")) else route.continue_(),
        )  # nothing but the file itself: proof that it needs no network
        page.goto(report_page.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg")
        assert page.locator(".js-plotly-plot .bars path").count() >= 2
        assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "collection-report.png"), full_page=True)
        browser.close()
    assert errors == []
