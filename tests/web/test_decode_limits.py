"""Every door decodes through the sandbox under the settings' limits (issue 18): the API's upload
and URL, the panel and the command line all refuse the scan bomb, and SCENEWEB_DECODE_TIMEOUT and
SCENEWEB_DECODE_MEMORY_MB reach the decoder child."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from classifier.panel.actions import analyse_source
from classifier.runtime import image_limits
from classifier.testing.bombs import scan_bomb_jpeg
from tests.support.api import assert_refused, post_image
from tests.support.httpserver import local_server, serve_bytes
from tests.support.images import image_bytes, photo
from tests.support.panel import upload_of

SCANS_REFUSED = "more than 100 scans"


def test_the_decode_deadline_and_memory_cap_come_from_the_settings(settings):
    settings.SCENEWEB_DECODE_TIMEOUT = 1.5
    settings.SCENEWEB_DECODE_MEMORY_MB = 300
    limits = image_limits()
    assert (limits.decode_timeout_s, limits.decode_memory_mb) == (1.5, 300)


def test_an_uploaded_scan_bomb_is_refused_and_the_next_photo_analysed(client, service, photo_bytes):
    assert_refused(post_image(client, scan_bomb_jpeg(), name="bomb.jpg"), 413, "too_many_scans")
    assert post_image(client, photo_bytes).status_code == 200


def test_a_scan_bomb_behind_a_url_is_refused(client, service):
    with local_server({"/bomb.jpg": serve_bytes(scan_bomb_jpeg(), "image/jpeg")}) as base:
        response = client.post("/api/analyze", {"url": f"{base}/bomb.jpg"}, content_type="application/json")
    assert_refused(response, 413, "too_many_scans")


def test_the_memory_setting_reaches_the_decoder(client, service):
    service.SCENEWEB_DECODE_MEMORY_MB = 64
    response = post_image(client, image_bytes(photo((5000, 4000)), "PNG"), name="big.png")
    assert_refused(response, 413, "decode_memory")
    assert "64 MB" in response.json()["error"]


def test_the_panel_refuses_a_scan_bomb_in_plain_words(service):
    outcome = analyse_source("upload", upload_of(scan_bomb_jpeg()))
    assert outcome.analysis is None
    assert SCANS_REFUSED in outcome.error


def test_the_command_line_refuses_a_scan_bomb(service, tmp_path):
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(scan_bomb_jpeg())
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("analyze", str(bomb), "--json", stdout=out, stderr=io.StringIO())
    assert SCANS_REFUSED in out.getvalue()
