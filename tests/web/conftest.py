"""Web fixtures: the service pointed at generated checkpoints and at the real photos in ../shared/samples."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def samples_dir(settings, sample_photos) -> Path:
    settings.SCENEWEB_SAMPLES_DIR = sample_photos[0].parent
    return settings.SCENEWEB_SAMPLES_DIR


@pytest.fixture
def service(settings, use_models, models_dir, samples_dir):
    """The served models (no attribute head, as on a fresh install), the sample gallery, no rate limit,
    and URL fetching allowed to reach the test servers on 127.0.0.1."""
    settings.SCENEWEB_RATE_LIMIT = 0
    settings.SCENEWEB_ALLOW_PRIVATE_URLS = True
    use_models(models_dir)
    return settings


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Rate counts and panel results in a cache of this test run's own, never the checkout's `cache/`."""
    from django.test.utils import override_settings

    location = tmp_path_factory.mktemp("cache")
    with override_settings(CACHES={"default": {"BACKEND": "diskcache.DjangoCache", "LOCATION": str(location)}}):
        yield location


@pytest.fixture
def frozen_minute(monkeypatch):
    """Rate-limit windows are calendar minutes: a test counting slots must not straddle two of them."""
    from types import SimpleNamespace

    from classifier import ratelimit

    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 6_000_030.0))
