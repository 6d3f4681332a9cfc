"""/metrics: Prometheus text, only for allowed addresses or the token, adding up every gunicorn worker."""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from classifier.testing.servers import running_gunicorn


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_it_is_a_404_to_anyone_not_allowed(client, service):
    assert client.get("/metrics").status_code == 404


def test_an_allowed_address_reads_it(client, service, settings):
    settings.SCENEWEB_METRICS_ALLOWED = ["127.0.0.0/8"]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "sceneweb_model_info{" in response.content.decode()


def test_the_token_reads_it_from_anywhere_and_a_wrong_one_does_not(client, service, settings):
    settings.SCENEWEB_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess").status_code == 404


def test_analyses_are_timed_per_stage_and_refusals_counted(client, service, settings, photo_bytes):
    settings.SCENEWEB_METRICS_ALLOWED = ["127.0.0.1"]
    before = samples(client.get("/metrics").content.decode())
    upload = io.BytesIO(b"not an image")
    upload.name = "x.jpg"
    client.post("/api/analyze", {"image": upload})
    photo = io.BytesIO(photo_bytes)
    photo.name = "photo.jpg"
    client.post("/api/analyze?outputs=scenes", {"image": photo})
    after = samples(client.get("/metrics").content.decode())

    def grew(name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("sceneweb_refusals_total", code="unsupported_format") == 1
    assert grew("sceneweb_analysis_stage_seconds_count", stage="resnet18") == 1
    assert grew("sceneweb_requests_total", endpoint="analyze", status="200") == 1
    assert grew("sceneweb_requests_total", endpoint="analyze", status="400") == 1
    assert after[("sceneweb_analyses_in_flight", ())] == 0


def get(url: str, *, data: bytes | None = None, headers: dict | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.slow
def test_a_scrape_adds_up_the_counts_of_two_gunicorn_workers(models_dir):
    with running_gunicorn(models_dir, workers=2, threads=1, SCENEWEB_METRICS_ALLOWED="127.0.0.1") as server:
        assert len(server.worker_pids()) == 2
        for _ in range(20):
            assert get(f"{server.url}/api/health") == 200
        for _ in range(6):
            status = get(f"{server.url}/api/analyze", data=b"{}", headers={"Content-Type": "application/json"})
            assert status == 400
        scraped = urllib.request.urlopen(f"{server.url}/metrics", timeout=60).read().decode()
        log = server.log
    counts = samples(scraped)
    health_lines = [line for line in log.splitlines() if '"GET /api/health HTTP/1.1" 200' in line]
    assert len(health_lines) >= 20  # ours, and the start-up check of running_gunicorn
    assert counts[("sceneweb_requests_total", (("endpoint", "health"), ("status", "200")))] == len(health_lines)
    assert counts[("sceneweb_requests_total", (("endpoint", "analyze"), ("status", "400")))] == 6
    assert counts[("sceneweb_refusals_total", (("code", "no_image"),))] == 6
    # each worker answered one analysis through Django before it served (its warm-up): counted nowhere
    assert log.count("warm in") == 2 and "warm-up request answered" not in log
    assert ("sceneweb_requests_total", (("endpoint", "analyze"), ("status", "200"))) not in counts
    assert not [key for key, value in counts.items() if key[0] == "sceneweb_analysis_stage_seconds_count" and value]
    served_by = {line.rsplit("pid=", 1)[1].split()[0] for line in health_lines}
    assert len(served_by) == 2  # both workers answered, and the scrape added both up
