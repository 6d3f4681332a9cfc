"""The rate limit is one allowance per client across all worker processes: several processes take
slots at once, through the default on-disk cache and through a real redis-server, and together
they are refused exactly as often as one process would be (no increment is lost).

The processes are forked from the test process, as gunicorn forks its workers from the master.
"""

from __future__ import annotations

import multiprocessing

import pytest
from django.core.cache import caches
from django.test.utils import override_settings

from classifier.ratelimit import RateLimited, take_rate_slot
from classifier.testing.paths import REPO
from tests.support.redis import redis_server
from tests.support.settings_probe import settings_output

PROCESSES = 3
ATTEMPTS = 40  # per process
LIMIT = 50
FORK = multiprocessing.get_context("fork")


def take_slots(start, refusals) -> None:
    start.wait(timeout=60)  # all processes hammer the counter at once
    refused = 0
    for _ in range(ATTEMPTS):
        try:
            take_rate_slot("198.51.100.77", now=6_000_000.0)
        except RateLimited:
            refused += 1
    refusals.put(refused)


def refusals_across_processes(cache_settings: dict) -> int:
    with override_settings(CACHES={"default": cache_settings}, SCENEWEB_RATE_LIMIT=LIMIT):
        caches["default"].clear()
        start, refusals = FORK.Event(), FORK.Queue()
        workers = [FORK.Process(target=take_slots, args=(start, refusals)) for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        start.set()
        total = sum(refusals.get(timeout=60) for _ in workers)
        for worker in workers:
            worker.join(timeout=30)
        assert [worker.exitcode for worker in workers] == [0] * PROCESSES
        return total


def test_workers_share_one_allowance_through_the_default_disk_cache(tmp_path):
    refused = refusals_across_processes({"BACKEND": "diskcache.DjangoCache", "LOCATION": str(tmp_path)})
    assert refused == PROCESSES * ATTEMPTS - LIMIT


def test_workers_share_one_allowance_through_redis(tmp_path):
    with redis_server(tmp_path) as url:
        refused = refusals_across_processes({"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url})
    assert refused == PROCESSES * ATTEMPTS - LIMIT


@pytest.mark.parametrize(
    ("environment", "backend", "location"),
    [
        ({}, "diskcache.DjangoCache", str(REPO / "cache")),
        ({"SCENEWEB_CACHE_DIR": "/var/cache/sceneweb"}, "diskcache.DjangoCache", "/var/cache/sceneweb"),
        ({"REDIS_URL": "redis://r:6379/1"}, "django.core.cache.backends.redis.RedisCache", "redis://r:6379/1"),
        (
            {"REDIS_URL": "redis://r:6379/1", "SCENEWEB_CACHE_URL": "redis://s:6379/2"},
            "django.core.cache.backends.redis.RedisCache",
            "redis://s:6379/2",
        ),
    ],
)
def test_the_cache_is_redis_when_a_url_is_given_and_on_disk_otherwise(environment, backend, location):
    show = "d = s.CACHES['default']; print(d['BACKEND'], d['LOCATION'])"
    assert settings_output(show, environment, drop=("SCENEWEB_", "REDIS_URL")).split() == [backend, location]
