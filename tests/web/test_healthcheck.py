"""`python -m sceneweb.healthcheck` (the Docker HEALTHCHECK) asks as the TLS proxy would, which
is what a production configuration answers with 200."""

from __future__ import annotations

import socket
import subprocess
import sys

from classifier.testing.paths import REPO
from sceneweb.healthcheck import health_request


def test_it_asks_the_bound_port_with_the_first_allowed_host_over_https():
    request = health_request({"SCENEWEB_BIND": "0.0.0.0:8123", "DJANGO_ALLOWED_HOSTS": "scenes.example.org,www.x.org"})

    assert request.full_url == "http://127.0.0.1:8123/api/health"
    assert request.get_header("Host") == "scenes.example.org"
    assert request.get_header("X-forwarded-proto") == "https"


def test_it_turns_a_subdomain_pattern_or_a_wildcard_into_a_host_name():
    assert health_request({"DJANGO_ALLOWED_HOSTS": ".example.org"}).get_header("Host") == "example.org"
    assert health_request({"DJANGO_ALLOWED_HOSTS": "*"}).get_header("Host") == "localhost"
    assert health_request({}).full_url == "http://127.0.0.1:8000/api/health"


def test_a_production_configuration_answers_its_request(client, service):
    service.ALLOWED_HOSTS = ["scenes.example.org"]
    service.SECURE_SSL_REDIRECT = True
    service.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    request = health_request({"DJANGO_ALLOWED_HOSTS": "scenes.example.org"})
    headers = {"host": request.get_header("Host"), "x-forwarded-proto": request.get_header("X-forwarded-proto")}

    assert client.get("/api/health", headers=headers).json()["status"] == "ok"
    assert client.get("/api/health", headers={"host": "scenes.example.org"}).status_code == 301
    assert client.get("/api/health", headers={"host": "10.0.0.7", "x-forwarded-proto": "https"}).status_code == 400


def test_it_fails_saying_why_when_nothing_answers():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the check: nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "sceneweb.healthcheck"],
        cwd=REPO,
        env={"SCENEWEB_BIND": f"127.0.0.1:{port}", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.startswith(f"unhealthy: http://127.0.0.1:{port}/api/health (Host localhost): ")
