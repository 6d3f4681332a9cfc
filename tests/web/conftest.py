"""Web fixtures: the service pointed at generated checkpoints and at the real photos in ../shared/samples."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest


@pytest.fixture
def samples_dir(settings, sample_photos) -> Path:
    settings.SCENEWEB_SAMPLES_DIR = sample_photos[0].parent
    return settings.SCENEWEB_SAMPLES_DIR


@pytest.fixture
def service(settings, use_models, models_dir, samples_dir):
    """The served models (no attribute head, as on a fresh install), the sample gallery, no rate limit,
    and URL fetching allowed to reach the test servers on 127.0.0.1."""
    settings.SCENEWEB_RATE_LIMIT = 0
    settings.SCENEWEB_ALLOW_PRIVATE_URLS = True
    use_models(models_dir)
    return settings


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Rate counts and panel results in a cache of this test run's own, never the checkout's `cache/`."""
    from django.test.utils import override_settings

    location = tmp_path_factory.mktemp("cache")
    with override_settings(CACHES={"default": {"BACKEND": "diskcache.DjangoCache", "LOCATION": str(location)}}):
        yield location


@pytest.fixture
def frozen_minute(monkeypatch):
    """Rate-limit windows are calendar minutes: a test counting slots must not straddle two of them.
    Each test gets a minute of its own (the cache outlives tests: an earlier test in the run, a
    browser test's page say, may have taken slots of a shared one)."""
    from types import SimpleNamespace

    from classifier import ratelimit

    minute = 6_000_030.0 + 60 * next(_MINUTES)
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: minute))


_MINUTES = itertools.count()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API keeps an event loop on this thread; the database set-up of the
        # tests is still plain synchronous code, so Django's async guard would misfire here.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser, live_server, service):
    """`open_page(width=1366, scheme="light")`: a fresh page on the live server, closed after the test."""
    from tests.support.browser import WAIT_MS

    contexts = []

    def opened(width: int = 1366, scheme: str = "light", path: str = "/", **options):
        phone = width < 500
        context = browser.new_context(
            viewport={"width": width, "height": 812 if phone else 900},
            color_scheme=scheme,
            is_mobile=phone,
            has_touch=phone,
            device_scale_factor=2 if phone else 1,
            accept_downloads=True,
            **options,
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(live_server.url + path)
        page.wait_for_selector("#url-go")
        return page

    yield opened
    for context in contexts:
        context.close()
