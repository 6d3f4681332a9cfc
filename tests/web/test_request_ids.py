"""Request ids: from a trusted proxy or new, in the header, in error bodies and in every log line."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import urllib.error
import urllib.request

import pytest

from classifier.logformat import JsonFormatter
from classifier.requestid import RequestIdFilter
from classifier.testing.servers import running_gunicorn


def upload(data: bytes) -> io.BytesIO:
    photo = io.BytesIO(data)
    photo.name = "photo.jpg"
    return photo


def test_each_request_gets_a_new_id_in_the_header(client, service):
    first, second = client.get("/api/health"), client.get("/api/health")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_an_id_from_a_stranger_is_not_believed(client, service):
    response = client.get("/api/health", HTTP_X_REQUEST_ID="chosen-by-client")
    assert response["X-Request-ID"] != "chosen-by-client"


def test_an_id_from_a_trusted_proxy_is_kept_in_the_header_and_the_error(client, service, settings):
    settings.SCENEWEB_TRUSTED_PROXIES = ["127.0.0.1"]
    response = client.post("/api/analyze", {"image": upload(b"not an image")}, HTTP_X_REQUEST_ID="lb-1234.abc")
    assert response["X-Request-ID"] == "lb-1234.abc"
    assert response.json()["request_id"] == "lb-1234.abc"


@pytest.mark.parametrize("claimed", ["two words", "x" * 200, "new\nline"])
def test_a_malformed_id_from_a_trusted_proxy_is_replaced(client, service, settings, claimed):
    settings.SCENEWEB_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client.get("/api/health", HTTP_X_REQUEST_ID=claimed)["X-Request-ID"] != claimed


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_every_log_line_of_a_request_carries_its_id(client, service):
    recorder, logger = Recorder(), logging.getLogger("sceneweb")
    logger.addHandler(recorder)
    try:
        response = client.post("/api/analyze", {"image": upload(b"not an image")})
    finally:
        logger.removeHandler(recorder)
    assert recorder.records  # the refusal's line
    assert {record.request_id for record in recorder.records} == {response["X-Request-ID"]}


def test_the_json_format_writes_one_object_per_line():
    record = logging.LogRecord("sceneweb.security", logging.WARNING, __file__, 1, 'refused "x"\nnext', None, None)
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == 'refused "x"\nnext'
    assert entry["request_id"] == "-" and entry["level"] == "WARNING" and entry["logger"] == "sceneweb.security"


def access_logged(server, text: str, timeout: float = 10) -> str:
    """The server's log once ``text`` is in it: gunicorn writes the access line after the answer
    has gone out, so a client can read its response before the line exists."""
    deadline = time.monotonic() + timeout
    while text not in server.log and time.monotonic() < deadline:
        time.sleep(0.1)
    return server.log


@pytest.mark.slow
def test_under_gunicorn_json_logs_carry_the_id_the_client_was_answered(models_dir):
    with running_gunicorn(models_dir, workers=1, SCENEWEB_LOG_FORMAT="json") as server:
        request = urllib.request.Request(
            f"{server.url}/api/analyze", data=b"[]", headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        answered = refused.value.headers["X-Request-ID"]
        log = access_logged(server, f"request_id={answered}")
    ours = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    refusal = next(entry for entry in ours if entry["logger"] == "sceneweb.security")
    assert refusal["request_id"] == answered and "code=bad_json" in refusal["message"]
    assert f"request_id={answered}" in log  # gunicorn's access line names it too
