"""Readiness (/api/ready), apart from liveness (/api/health): can this process serve an analysis now?

Two checks: the models are loaded, and the shared cache (Redis, or the on-disk cache) answers a
write and a read, since the rate limit and the panel's results live there. A load balancer routes
only to a ready instance; an instance that is up but has lost Redis says so instead of 500s.
"""

from __future__ import annotations

import uuid

from django.core.cache import cache

from classifier.engine.errors import SceneWebError
from classifier.runtime import get_analyzer

OK = "ok"
PROBE_TIMEOUT_S = 10  # the probe key expires by itself


def models_check() -> str:
    try:
        get_analyzer()
    except SceneWebError as exc:
        return exc.message
    return OK


def cache_check() -> str:
    """A probe key written and read back. (The one place to swap for a shared "is the cache up" check.)"""
    key = f"sceneweb:ready:{uuid.uuid4().hex}"
    try:
        cache.set(key, OK, timeout=PROBE_TIMEOUT_S)
        answered = cache.get(key)
        cache.delete(key)
    except Exception as exc:  # any backend's connection or disk error means the same: not reachable
        return f"the shared cache is unreachable ({type(exc).__name__})"
    return OK if answered == OK else "the shared cache did not keep a value"


def readiness() -> dict[str, str]:
    return {"models": models_check(), "cache": cache_check()}
