"""/api/ready: 503 while the models cannot load or the shared cache is unreachable, 200 when ready."""

from __future__ import annotations

from urllib.parse import urlparse

from django.core.cache import caches
from django.test.utils import override_settings

from tests.support.redis import redis_server


def test_it_is_ready_with_the_models_and_the_disk_cache(client, service):
    response = client.get("/api/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"models": "ok", "cache": "ok"}}


def test_it_is_not_ready_without_the_models(client, service, use_models, tmp_path):
    use_models(tmp_path)
    response = client.get("/api/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready" and body["checks"]["cache"] == "ok"
    assert "resnet18_places365.pth.tar" in body["checks"]["models"]


def test_it_follows_a_real_redis_stopped_and_started_again(client, service, tmp_path):
    with redis_server(tmp_path) as url:
        redis = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
        with override_settings(CACHES=redis):
            caches["default"].clear()
            assert client.get("/api/ready").status_code == 200
    with override_settings(CACHES=redis):
        stopped = client.get("/api/ready")
        with redis_server(tmp_path, port=urlparse(url).port):
            again = client.get("/api/ready")
    assert stopped.status_code == 503
    assert stopped.json()["checks"] == {"models": "ok", "cache": "the shared cache is unreachable (ConnectionError)"}
    assert again.status_code == 200
    assert client.get("/api/health").status_code == 200  # liveness stays apart
