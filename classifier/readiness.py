"""Readiness (/api/ready), apart from liveness (/api/health): can this process serve an analysis now?

Two checks: the models are loaded, and the shared cache (Redis, or the on-disk cache) answers a
write and a read, since the rate limit and the panel's results live there. A load balancer routes
only to a ready instance; an instance that is up but has lost Redis says so instead of 500s.
"""

from __future__ import annotations

from classifier.engine.errors import SceneWebError
from classifier.runtime import get_analyzer
from classifier.sharedcache import cache_status

OK = "ok"


def models_check() -> str:
    try:
        get_analyzer()
    except SceneWebError as exc:
        return exc.message
    return OK


def cache_check() -> str:
    status = cache_status()
    return OK if status.reachable else status.detail


def readiness() -> dict[str, str]:
    return {"models": models_check(), "cache": cache_check()}
