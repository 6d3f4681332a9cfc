"""Whatever a request holds, the answer is a clean 4xx with one log line, never a 500 or a
traceback: absurdly nested JSON, a 401-digit opacity, more form fields or file parts than Django
reads, a Host header this site does not serve."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.cache import cache
from django.test import Client

from classifier import urls
from tests.support.api import assert_refused, post_json

pytestmark = pytest.mark.django_db

UPDATE = "/django_plotly_dash/app/SceneWeb/_dash-update-component"
HEAT_OUTPUT = next(k for k in urls.PANEL.as_dash_instance().callback_map if k.startswith("heat.style"))


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


@pytest.fixture
def page_client(service) -> Client:
    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/").status_code == 200
    return browser


def post_update(browser: Client, body: str | dict):
    data = body if isinstance(body, str) else json.dumps(body)
    token = browser.cookies["_csrf_token"].value
    return browser.post(UPDATE, data, content_type="application/json", headers={"X-CSRFToken": token})


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def no_traceback_logged(caplog) -> bool:
    return all(record.exc_info is None for record in caplog.records)


def test_json_nested_3000_deep_is_refused_by_the_api(client, service, caplog):
    response = post_json(client, '{"url": ' + nested(3000) + "}")
    assert_refused(response, 400, "bad_json", "The request body is not valid JSON (or is nested too deeply).")
    assert no_traceback_logged(caplog)


def test_json_nested_3000_deep_is_refused_by_the_panel(page_client, caplog):
    response = post_update(page_client, nested(3000))
    assert_refused(response, 400, "bad_json")
    assert no_traceback_logged(caplog)


def heat_body(opacity) -> dict:
    return {
        "output": HEAT_OUTPUT,
        "outputs": {"id": "heat", "property": "style"},
        "inputs": [
            {"id": "opacity", "property": "value", "value": opacity},
            {"id": "heat-on", "property": "value", "value": ["on"]},
        ],
        "changedPropIds": ["opacity.value"],
        "state": [],
    }


@pytest.mark.parametrize(("opacity", "applied"), [(int("9" * 401), 1.0), (-int("9" * 401), 0.0), (0.25, 0.25)])
def test_an_opacity_of_401_digits_is_clamped_not_a_500(page_client, opacity, applied):
    response = post_update(page_client, heat_body(opacity))
    assert response.status_code == 200, response.content
    assert response.json()["response"]["heat"]["style"] == {"opacity": applied}


def test_more_than_1000_form_fields_is_a_json_400_without_a_traceback(client, service, caplog):
    response = client.post("/api/analyze", {f"f{i}": "x" for i in range(1001)})
    assert_refused(response, 400, "too_many_fields", "The request has more form fields than this server reads.")
    assert no_traceback_logged(caplog)
    assert [r.getMessage() for r in caplog.records if r.name == "sceneweb.security"] == [
        "refused code=too_many_fields status=400 client=127.0.0.1 method=POST path=/api/analyze "
        'reason="The request has more form fields than this server reads."'
    ]


def test_more_than_100_file_parts_is_a_json_400_without_a_traceback(client, service, caplog, photo_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    parts = {f"image{i}": SimpleUploadedFile(f"p{i}.jpg", b"x") for i in range(101)}
    response = client.post("/api/analyze", parts)
    assert_refused(response, 400, "too_many_files")
    assert no_traceback_logged(caplog)


def test_a_wrong_host_is_a_json_400_logged_as_one_line(client, service, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/api/health", headers={"Host": "10.0.3.7"})
    assert_refused(response, 400, "host_not_allowed", "This server does not answer for that Host header.")
    assert no_traceback_logged(caplog)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [
        "refused code=host_not_allowed status=400 client=127.0.0.1 method=GET path=/api/health "
        'reason="This server does not answer for that Host header."'
    ]


def test_a_wrong_host_on_the_page_gets_djangos_page_and_one_line(client, service, caplog):
    response = client.get("/", headers={"Host": "10.0.3.7"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert no_traceback_logged(caplog)
    assert [r.name for r in caplog.records if r.levelno >= logging.WARNING] == ["sceneweb.security"]
