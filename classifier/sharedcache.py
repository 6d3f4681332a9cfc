"""The cache every worker shares (settings.CACHES: Redis, or SQLite on disk), and what its failures mean.

Rate-limit counters and the panel's results live there. A stopped Redis or a full disk is not
the visitor's fault and must not turn into a 500: each failure is one warning line, and the
callers decide what it costs (`ratelimit` fails open or closed by SCENEWEB_RATE_LIMIT_ON_CACHE_ERROR,
the panel says that results cannot be kept right now). `cache_status` is what readiness asks.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.cache import cache
from redis.exceptions import RedisError

from classifier.engine.errors import SceneWebError

log = logging.getLogger("sceneweb.cache")

# Redis down or timing out; SQLite locked, full or unwritable; the disk full under diskcache's value files.
CACHE_ERRORS = (RedisError, sqlite3.Error, OSError)


class CacheUnavailable(SceneWebError):
    code = "cache_unavailable"


@contextmanager
def shared_cache(action: str) -> Iterator[None]:
    """Turn a failure of the shared cache while doing `action` into `CacheUnavailable`, logged as one line."""
    try:
        yield
    except CACHE_ERRORS as exc:
        log.warning("cache unavailable while %s: %s: %s", action, type(exc).__name__, str(exc)[:200])
        raise CacheUnavailable(
            "This server cannot keep results right now (its shared cache is unavailable); please try again shortly."
        ) from None


@dataclass(frozen=True)
class CacheStatus:
    reachable: bool
    detail: str  # "ok", or what failed, in plain words


def cache_status() -> CacheStatus:
    """Whether the shared cache takes a write and gives it back (what a readiness check asks). Each
    probe has its own key, so two probes at once cannot read each other's value."""
    key, token = f"sceneweb:probe:{secrets.token_hex(8)}", secrets.token_hex(4)
    try:
        cache.set(key, token, timeout=10)
        kept = cache.get(key) == token
        cache.delete(key)
    except CACHE_ERRORS as exc:  # the type only: the detail is answered to anyone who asks
        return CacheStatus(False, f"the shared cache is unavailable ({type(exc).__name__})")
    return CacheStatus(True, "ok") if kept else CacheStatus(False, "the shared cache did not keep a value it was given")
