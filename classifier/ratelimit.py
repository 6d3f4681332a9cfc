"""The per-client allowance of analyses per minute (SCENEWEB_RATE_LIMIT), shared by every worker.

The API (through `decorators.rate_limited`) and the panel's costly callbacks take slots here.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

from classifier.clients import rate_group
from classifier.engine.errors import SceneWebError
from classifier.metrics import RATE_LIMITED
from classifier.sharedcache import CacheUnavailable, shared_cache

RATE_WINDOW_S = 60


class RateLimited(SceneWebError):
    code = "rate_limited"

    def __init__(self, retry_after: int):
        super().__init__(f"Too many analyses from your address; please wait {retry_after} s.")
        self.retry_after = retry_after


def take_rate_slot(client: str, now: float | None = None) -> None:
    """Count one analysis for ``client`` in the current minute; raise `RateLimited` past the limit.

    A fixed one-minute window in Django's cache, which every worker shares (settings.CACHES: Redis,
    or SQLite on disk); `add` and `incr` are atomic there, so concurrent slots are all counted.
    IPv6 clients are counted by /64 (`clients.rate_group`). Without the cache the slot is granted
    or refused as SCENEWEB_RATE_LIMIT_ON_CACHE_ERROR says.
    """
    limit = settings.SCENEWEB_RATE_LIMIT
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // RATE_WINDOW_S)
    try:
        count = count_slot(f"sceneweb:rate:{window}:{rate_group(client)}")
    except CacheUnavailable:
        if settings.SCENEWEB_RATE_LIMIT_ON_CACHE_ERROR == "open":
            return  # analyse unlimited until the cache is back (logged once per request by `shared_cache`)
        raise CacheUnavailable(
            "This server cannot check its rate limit right now (its shared cache is unavailable); "
            "please try again shortly."
        ) from None
    if count > limit:
        RATE_LIMITED.inc()
        raise RateLimited(retry_after=max(1, math.ceil((window + 1) * RATE_WINDOW_S - now)))


def count_slot(key: str) -> int:
    """One more in the counter under `key`, atomically; the count after."""
    with shared_cache("counting a rate-limit slot"):
        cache.add(key, 0, timeout=2 * RATE_WINDOW_S)
        try:
            return cache.incr(key)
        except ValueError:  # the key expired between add and incr
            cache.set(key, 1, timeout=2 * RATE_WINDOW_S)
            return 1
