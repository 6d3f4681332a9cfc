"""The service under attack: hostile files through the API, rate and size limits, refusal logs,
security headers, CSRF, and `check --deploy` under production settings."""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from PIL import Image

from classifier.checks import check_settings
from classifier.clients import client_address
from classifier.ratelimit import RateLimited, take_rate_slot
from classifier.requestlog import log_field
from classifier.testing.paths import REPO
from tests.support.api import assert_refused, post_image
from tests.support.httpserver import local_server, serve_bytes
from tests.support.images import image_bytes, jpeg, photo, raw_png, rejected_corpus
from tests.support.settings_probe import settings_output

CORPUS = rejected_corpus()


@pytest.fixture(autouse=True)
def fresh_rate_counts():
    cache.clear()
    yield
    cache.clear()


def assert_analysed(response):
    assert response.status_code == 200, response.content
    assert len(response.json()["scenes"]) == 5


@pytest.mark.parametrize("name", list(CORPUS))
def test_a_hostile_file_is_refused_and_the_server_answers_the_next_photo(client, service, photo_bytes, name):
    file_name, data, code, status = CORPUS[name]
    assert_refused(post_image(client, data, name=file_name), status, code)
    assert_analysed(post_image(client, photo_bytes))


def exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg(photo((80, 40)), exif=exif.tobytes())


def animated_gif() -> bytes:
    frames = [Image.new("P", (32, 32), index) for index in (1, 2)]
    return image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("cmyk.jpg", jpeg(Image.new("CMYK", (64, 64), (0, 200, 200, 0)))),
        (
            "deep.png",
            raw_png(4, 4, bit_depth=16, color_type=0, rows=b"".join(b"\0" + b"\x80\x00" * 4 for _ in range(4))),
        ),
        ("animated.gif", animated_gif()),
        ("rotated.jpg", exif_rotated_jpeg()),
    ],
)
def test_awkward_but_legal_images_are_analysed(client, service, name, data):
    assert_analysed(post_image(client, data, name=name))


def test_a_redirect_to_the_metadata_service_is_refused_through_the_api(client, service):
    def to_metadata(request):
        request.send_response(302)
        request.send_header("Location", "http://169.254.169.254/latest/meta-data/iam/")
        request.send_header("Content-Length", "0")
        request.end_headers()

    with local_server({"/photo.jpg": to_metadata}) as base:
        response = client.post("/api/analyze", {"url": f"{base}/photo.jpg"}, content_type="application/json")
    assert_refused(response, 400, "address_link_local")


def test_an_image_url_is_analysed(client, service, photo_bytes):
    with local_server({"/photo.jpg": serve_bytes(photo_bytes, "image/jpeg")}) as base:
        response = client.post("/api/analyze", {"url": f"{base}/photo.jpg"}, content_type="application/json")
    assert_analysed(response)


def test_the_rate_limit_answers_429_with_retry_after_per_client(client, service, frozen_minute):
    service.SCENEWEB_RATE_LIMIT = 2
    for _ in range(2):
        assert_refused(client.post("/api/analyze"), 400, "no_image")
    response = client.post("/api/analyze")
    assert_refused(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert_refused(client.post("/api/analyze", REMOTE_ADDR="192.0.2.7"), 400, "no_image")


def test_the_rate_limit_window_starts_afresh_each_minute(settings):
    settings.SCENEWEB_RATE_LIMIT = 1
    take_rate_slot("198.51.100.1", now=600.0)
    with pytest.raises(RateLimited) as limited:
        take_rate_slot("198.51.100.1", now=630.0)
    assert limited.value.retry_after == 30
    take_rate_slot("198.51.100.1", now=660.0)


def test_forwarded_for_is_ignored_unless_the_connection_comes_from_a_trusted_proxy(settings, rf):
    request = rf.post("/api/analyze", REMOTE_ADDR="203.0.113.50", HTTP_X_FORWARDED_FOR="6.6.6.6")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # the https switch alone trusts nobody
    assert client_address(request) == "203.0.113.50"
    settings.SCENEWEB_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_address(request) == "203.0.113.50"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("6.6.6.6, 203.0.113.9", "203.0.113.9"),  # what the client claimed, then what nginx saw
        ("6.6.6.6, 203.0.113.9, 10.1.2.3", "203.0.113.9"),  # a second trusted proxy in between
        ("10.9.9.9, 10.1.2.3", "10.9.9.9"),  # only trusted hops: the first of them
        ("", "10.0.0.2"),  # no header: the proxy itself
        ("203.0.113.9, not-an-address", "10.0.0.2"),  # garbage where our proxy writes: believe nothing
        ("2001:db8::7", "2001:db8::7"),
    ],
)
def test_behind_trusted_proxies_the_client_is_the_first_address_no_proxy_vouches_for(settings, rf, forwarded, client):
    settings.SCENEWEB_TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]
    request = rf.post("/api/analyze", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == client


def test_a_trusted_proxy_that_is_not_an_address_stops_the_server(settings, rf):
    settings.SCENEWEB_TRUSTED_PROXIES = ["10.0.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match="SCENEWEB_TRUSTED_PROXIES: '10.0.0.0/33' is not an address"):
        client_address(rf.get("/"))


def test_a_trusted_proxy_that_is_not_an_address_stops_the_start(settings):
    settings.SCENEWEB_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match="SCENEWEB_TRUSTED_PROXIES: '10.0.0.0/33' is not an address"):
        check_settings()  # what ClassifierConfig.ready runs, before any request


def test_an_oversized_request_is_refused_before_it_is_read(client, service):
    service.SCENEWEB_MAX_REQUEST_BYTES = 4096
    response = client.post("/api/analyze", b"\0" * 5000, content_type="application/octet-stream")
    assert_refused(response, 413, "request_too_large")


def test_djangos_own_body_limits_follow_the_upload_limit(settings):
    image_limit = settings.SCENEWEB_MAX_UPLOAD_MB * 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.SCENEWEB_MAX_REQUEST_BYTES > image_limit * 4 // 3
    assert settings.FILE_UPLOAD_MAX_MEMORY_SIZE == settings.SCENEWEB_MAX_REQUEST_BYTES  # every upload in memory


def test_every_refusal_is_one_log_line_with_code_client_and_reason(client, service, caplog):
    with caplog.at_level(logging.WARNING, logger="sceneweb.security"):
        post_image(client, b"%PDF-1.4 not a photo", name="scan.pdf")
    (record,) = [r for r in caplog.records if r.name == "sceneweb.security"]
    line = record.getMessage()
    assert line.startswith("refused code=unsupported_format status=400 client=127.0.0.1 method=POST path=/api/analyze ")
    assert 'reason="This is a PDF document, not a photo;' in line
    assert "\n" not in line


def test_a_newline_in_the_path_cannot_forge_a_log_line(client, service, caplog):
    with caplog.at_level(logging.WARNING, logger="sceneweb.security"):
        response = client.get(
            "/samples/x%0A2026-01-01 WARNING sceneweb.security refused code=ok%22/thumbnail.jpg",
            REMOTE_ADDR="198.51.100.4",
        )
    assert response.status_code == 404
    (record,) = [r for r in caplog.records if r.name == "sceneweb.security"]
    line = record.getMessage()
    assert "\n" not in line and "\r" not in line
    assert line.startswith("refused code=sample_not_found status=404 client=198.51.100.4 method=GET ")
    assert ' path="/samples/x\\n2026-01-01 WARNING sceneweb.security refused code=ok\\"/thumbnail.jpg" ' in line


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("/api/analyze", "/api/analyze"),
        ("a b", '"a b"'),
        ("x\r\ny", '"x\\r\\ny"'),
        ('x" reason="forged', '"x\\" reason=\\"forged"'),
        ("\x1b[31mred", '"\\u001b[31mred"'),
        ("caf\u00e9\u2028", '"caf\\u00e9\\u2028"'),
    ],
)
def test_visitor_values_are_quoted_in_log_lines_when_they_are_not_plain(value, logged):
    assert log_field(value) == logged


def test_responses_carry_the_security_headers(client, service):
    response = client.get("/api/health")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_only_the_dash_panel_may_be_framed_and_only_by_this_site(client, service):
    """Any answer under the panel's prefix (this one a 404, so no Dash layout is built) says SAMEORIGIN."""
    assert client.get("/api/health")["X-Frame-Options"] == "DENY"
    assert client.get("/django_plotly_dash/no-such-part")["X-Frame-Options"] == "SAMEORIGIN"


def test_posts_to_the_page_need_a_csrf_token(service):
    assert Client(enforce_csrf_checks=True).post("/").status_code == 403


PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "scenes.example.org",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_BEHIND_TLS_PROXY": "1",
}


def check_deploy(models_dir: Path, environment: dict = PRODUCTION, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SCENEWEB_"))}
    secret = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "SCENEWEB_MODELS_DIR": str(models_dir)}
    env |= environment | secret | extra
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_deploy_is_clean_under_production_settings(models_dir):
    result = check_deploy(models_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_private_urls_are_allowed(models_dir):
    result = check_deploy(models_dir, SCENEWEB_ALLOW_PRIVATE_URLS="1")
    assert result.returncode != 0
    assert "sceneweb.W001" in result.stderr + result.stdout


DEPLOY_GUIDE = (REPO / "docs" / "deploy-ec2.md").read_text()


def deploy_guide_env_file() -> dict[str, str]:
    """The lines of the guide's /etc/sceneweb/env, as systemd would read them."""
    block = DEPLOY_GUIDE.split("## 3. Environment file", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return dict(line.split("=", 1) for line in block.splitlines() if line.strip())


def test_check_deploy_is_clean_with_the_deploy_guides_env_file(models_dir):
    result = check_deploy(models_dir, deploy_guide_env_file())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_guides_nginx_takes_the_largest_request_the_service_accepts_and_little_more():
    """The panel sends a photo of SCENEWEB_MAX_UPLOAD_MB base64-encoded; nginx must pass it on."""
    upload_mb = deploy_guide_env_file()["SCENEWEB_MAX_UPLOAD_MB"]
    service_limit = int(settings_output("print(s.SCENEWEB_MAX_REQUEST_BYTES)", {"SCENEWEB_MAX_UPLOAD_MB": upload_mb}))
    nginx_limit = int(re.search(r"client_max_body_size (\d+)m;", DEPLOY_GUIDE).group(1)) * 2**20
    assert service_limit <= nginx_limit < service_limit + 2**20
