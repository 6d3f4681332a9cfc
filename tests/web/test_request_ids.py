"""Request ids: from a trusted proxy or new, in the header, in error bodies and in every log line."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from classifier.logformat import JsonFormatter
from classifier.requestid import RequestIdFilter


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


def test_every_log_line_of_a_request_carries_its_id(client, service, caplog):
    handler_filter = RequestIdFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.WARNING, logger="sceneweb"):
        response = client.post("/api/analyze", {"image": upload(b"not an image")})
    ids = {record.request_id for record in caplog.records if record.name.startswith("sceneweb")}
    assert ids == {response["X-Request-ID"]}


def test_the_json_format_writes_one_object_per_line():
    record = logging.LogRecord("sceneweb.security", logging.WARNING, __file__, 1, 'refused "x"\nnext', None, None)
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == 'refused "x"\nnext'
    assert entry["request_id"] == "-" and entry["level"] == "WARNING" and entry["logger"] == "sceneweb.security"
