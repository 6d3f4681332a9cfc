"""/api/docs in headless Chromium: Swagger UI runs from this site's files, inside the page's
Content-Security-Policy (no violation reported), and lists every operation of the document."""

from __future__ import annotations

import shutil

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_every_operation_without_a_policy_violation(live_server, service, monkeypatch):
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (`apt-get install -y chromium`; .ci/run does this)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API keeps an event loop here
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        page = browser.new_page()
        messages, outside = [], []
        page.on("console", lambda message: messages.append(message.text))
        page.on("request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url))
        page.goto(f"{live_server.url}/api/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=60_000)
        paths = page.locator(".opblock-summary-path").evaluate_all("nodes => nodes.map(n => n.dataset.path)")
        browser.close()
    assert sorted(paths) == ["/api/analyze", "/api/health", "/api/ready"]
    assert [m for m in messages if "Content Security Policy" in m] == []
    assert [url for url in outside if not url.startswith("data:")] == []
