"""The per-client allowance of analyses per minute (SCENEWEB_RATE_LIMIT), shared by every worker.

The API (through `decorators.rate_limited`) and the panel's costly callbacks take slots here.
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache

from classifier.engine.errors import SceneWebError
from classifier.metrics import RATE_LIMITED

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
    """
    limit = settings.SCENEWEB_RATE_LIMIT
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // RATE_WINDOW_S)
    key = f"sceneweb:rate:{window}:{client}"
    cache.add(key, 0, timeout=2 * RATE_WINDOW_S)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=2 * RATE_WINDOW_S)
        count = 1
    if count > limit:
        RATE_LIMITED.inc()
        raise RateLimited(retry_after=max(1, math.ceil((window + 1) * RATE_WINDOW_S - now)))
