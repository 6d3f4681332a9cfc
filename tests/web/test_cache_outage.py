"""A cache outage (a real redis-server stopped, or the disk cache failing) costs what the settings
say and nothing more: the API still analyses an upload (the rate limit fails open, or closed with a
503), the panel says plainly that results cannot be kept, each failure is one warning line, and
`cache_status` (what readiness asks) reports the fault."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from django.core.cache import cache
from django.test.utils import override_settings

from classifier.panel.actions import UNEXPECTED, act, analyse_source
from classifier.panel.inputs import PanelInputs
from classifier.sharedcache import CacheStatus, cache_status
from tests.support.api import assert_refused, post_image
from tests.support.panel import upload_of
from tests.web.test_shared_rate_limit import redis_server

pytestmark = pytest.mark.django_db

REDIS = "django.core.cache.backends.redis.RedisCache"
TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}
CANNOT_KEEP = "This server cannot keep results right now (its shared cache is unavailable); please try again shortly."


@pytest.fixture
def stopped_redis(tmp_path):
    """The cache is a Redis that was running a moment ago and is now stopped."""
    with redis_server(tmp_path) as url:
        pass
    with override_settings(CACHES={"default": {"BACKEND": REDIS, "LOCATION": url, "OPTIONS": TIMEOUTS}}):
        yield url


@pytest.fixture
def failing_disk_cache(monkeypatch):
    """The on-disk cache answers every call as SQLite does on a full disk."""

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    for method in ("add", "incr", "set", "get"):
        monkeypatch.setattr(cache, method, full)


def cache_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "sceneweb.cache"]


def test_the_api_analyses_an_upload_while_redis_is_stopped(client, service, stopped_redis, photo_bytes, caplog):
    service.SCENEWEB_RATE_LIMIT = 5
    for _ in range(2):
        response = post_image(client, photo_bytes)
        assert response.status_code == 200, response.content
        assert len(response.json()["scenes"]) == 5
    warnings = cache_warnings(caplog)
    assert len(warnings) == 2  # one line per failure
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in warnings)
    assert warnings[0].getMessage().startswith("cache unavailable while counting a rate-limit slot: ConnectionError")


def test_with_the_limit_closed_the_api_answers_503_while_the_cache_fails(
    client, service, failing_disk_cache, photo_bytes, caplog
):
    service.SCENEWEB_RATE_LIMIT = 5
    service.SCENEWEB_RATE_LIMIT_ON_CACHE_ERROR = "closed"
    response = post_image(client, photo_bytes)
    assert_refused(
        response,
        503,
        "cache_unavailable",
        "This server cannot check its rate limit right now (its shared cache is unavailable); "
        "please try again shortly.",
    )
    assert all(r.exc_info is None for r in caplog.records)


def test_the_panel_says_results_cannot_be_kept_while_redis_is_stopped(service, stopped_redis, photo_bytes, caplog):
    service.SCENEWEB_RATE_LIMIT = 5
    outcome = analyse_source("upload", upload_of(photo_bytes), client="198.51.100.9")
    assert outcome.error == CANNOT_KEEP
    assert outcome.error != UNEXPECTED
    assert all(r.exc_info is None for r in caplog.records)


def test_a_panel_click_says_results_cannot_be_kept_while_the_disk_cache_fails(service, failing_disk_cache):
    inputs = PanelInputs(key="A" * 24, selected=0, bar_count=service.SCENEWEB_TOP_K)
    assert act({"type": "scene-bar", "index": 1}, inputs) == {"error": CANNOT_KEEP}


def test_cache_status_reports_a_stopped_redis_and_a_running_one(tmp_path, stopped_redis):
    status = cache_status()
    assert not status.reachable
    assert status.detail.startswith("the shared cache is unavailable (ConnectionError: ")
    with redis_server(tmp_path) as url:
        with override_settings(CACHES={"default": {"BACKEND": REDIS, "LOCATION": url, "OPTIONS": TIMEOUTS}}):
            assert cache_status() == CacheStatus(True, "ok")


def test_the_settings_give_redis_short_socket_timeouts():
    from tests.support.settings_probe import settings_output

    shown = settings_output("print(s.CACHES['default']['OPTIONS'])", {"SCENEWEB_CACHE_URL": "redis://r:6379/0"})
    assert shown.strip() == "{'socket_connect_timeout': 1.0, 'socket_timeout': 1.0}"
