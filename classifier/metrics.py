"""/metrics for Prometheus: requests, refusals, analysis latency per stage, analyses in flight,
rate-limit hits and the served models.

Under gunicorn every worker writes its numbers to PROMETHEUS_MULTIPROC_DIR (sceneweb/gunicorn.py
sets it up) and a scrape, answered by any one worker, adds up all of them; elsewhere (runserver,
tests) the process's own registry answers. Only SCENEWEB_METRICS_ALLOWED addresses, or a caller
with SCENEWEB_METRICS_TOKEN, may read it.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from classifier.clients import client_address, is_trusted, parsed_address, trusted_networks

REQUESTS = Counter("sceneweb_requests", "HTTP requests answered", ["endpoint", "status"])
REFUSALS = Counter("sceneweb_refusals", "Requests refused, by error code", ["code"])
RATE_LIMITED = Counter("sceneweb_rate_limit_hits", "Analyses refused by the rate limit")
STAGE_SECONDS = Histogram(
    "sceneweb_analysis_stage_seconds",
    "Time per analysis stage (Analysis.timings_ms)",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("sceneweb_analyses_in_flight", "Analyses running now", multiprocess_mode="livesum")
MODEL_INFO = Gauge(
    "sceneweb_model_info", "The served models (value 1)", ["scene", "attributes", "inference"], multiprocess_mode="max"
)


class _Uncounted:
    """Stands in for a metric: takes every observation and keeps none."""

    def labels(self, *values: str) -> _Uncounted:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def observe(self, value: float) -> None:
        pass


@contextmanager
def uncounted() -> Iterator[None]:
    """An answered analysis inside is not counted (a worker's warm-up request, sceneweb/gunicorn.py):
    in multiprocess mode a metric writes to its process's file whatever registry holds it, so the
    metrics an analysis touches are swapped out, not unregistered. Only for a process that serves
    no one yet (a refusal would still count: the warm-up runs without rate limit and keys)."""
    names = ("REQUESTS", "STAGE_SECONDS", "IN_FLIGHT")
    module = globals()
    saved = {name: module[name] for name in names}
    module.update(dict.fromkeys(names, _Uncounted()))
    try:
        yield
    finally:
        module.update(saved)


@contextmanager
def analysis_in_flight() -> Iterator[None]:
    IN_FLIGHT.inc()
    try:
        yield
    finally:
        IN_FLIGHT.dec()


def observe_timings(timings_ms: dict[str, float]) -> None:
    for stage, milliseconds in timings_ms.items():
        STAGE_SECONDS.labels(stage).observe(milliseconds / 1000)


def record_models(models: dict, inference: str) -> None:
    attributes = (models.get("attributes") or {}).get("name") or "none"
    MODEL_INFO.labels(models["scene"]["name"], attributes, inference).set(1)


def may_read(request: HttpRequest) -> bool:
    """From an allowed address, or with the token (compared in constant time)."""
    token = settings.SCENEWEB_METRICS_TOKEN
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    allowed = trusted_networks(tuple(settings.SCENEWEB_METRICS_ALLOWED))
    return is_trusted(parsed_address(client_address(request)), allowed)


def exposition() -> HttpResponse:
    """Every worker's numbers in multiprocess mode, this process's otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Counts every answer by endpoint (the URL pattern's name; `other` for unknown paths) and status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        endpoint = (match.url_name if match else None) or "other"
        REQUESTS.labels(endpoint, str(response.status_code)).inc()
        return response
