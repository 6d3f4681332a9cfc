"""Helpers the browser tests share: Debian's Chromium, axe-core and the page's states."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from classifier.testing.paths import REPO

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",  # a webcam that shows a test pattern, allowed without asking
    "--use-fake-ui-for-media-stream",
]
ARTIFACTS = REPO / "artifacts"
AXE = REPO / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
AXE_INSTALL = "npm install --no-save --prefix .cache/axe axe-core@4.14.1"  # what .ci/run does
WAIT_MS = 60_000  # an analysis on a loaded 2-core CI machine takes well under this


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (`apt-get install -y chromium`; .ci/run does this)")
    return path


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    if not AXE.is_file():
        pytest.skip(f"axe-core is not installed ({AXE_INSTALL}; .ci/run does this)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())  # evaluated by the test driver, so the page's CSP does not apply
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
