"""Schemathesis against a live gunicorn on 127.0.0.1, from the site's own /api/openapi.json: for
any generated input (valid and invalid), no 5xx, and every answer conforms to the document.

Generated image URLs are pointed at a local server (nothing leaves 127.0.0.1); the number of
examples per operation is bounded, so the test takes a bounded time.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from classifier.testing.servers import running_gunicorn
from tests.support.httpserver import local_server, serve_bytes

pytestmark = pytest.mark.slow
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 40


@pytest.fixture(scope="module")
def image_host(sample_photos):
    with local_server({"/photo.jpg": serve_bytes(sample_photos[0].read_bytes(), "image/jpeg")}) as base:
        yield base


@pytest.fixture(scope="module")
def live_schema(models_dir, sample_photos, image_host):
    with running_gunicorn(
        models_dir,
        workers=1,
        threads=2,
        SCENEWEB_SAMPLES_DIR=str(sample_photos[0].parent),
        SCENEWEB_ALLOW_PRIVATE_URLS="1",  # the image host above, on 127.0.0.1
        SCENEWEB_FETCH_TIMEOUT="2",
    ) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")
        yield schema


def local_url(url: object, image_host: str) -> object:
    """A generated address, moved to the local image host (its text kept in the path)."""
    if not isinstance(url, str):
        return url
    return f"{image_host}/photo.jpg" if url.endswith(".jpg") else f"{image_host}/{quote(url[:60], safe='')}"


def localised(body: object, image_host: str) -> object:
    if not isinstance(body, dict):
        return body
    body = dict(body)
    if "url" in body:
        body["url"] = local_url(body["url"], image_host)
    if isinstance(body.get("images"), list):
        body["images"] = [localised(item, image_host) for item in body["images"]]
    return body


CASES = [
    ("POST", "/api/analyze", GenerationMode.POSITIVE),
    ("POST", "/api/analyze", GenerationMode.NEGATIVE),  # invalid inputs: refused with a documented 4xx
    ("GET", "/api/health", GenerationMode.POSITIVE),
    ("GET", "/api/ready", GenerationMode.POSITIVE),
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_input_makes_the_api_fail_or_answer_off_its_schema(live_schema, image_host, method, path, mode):
    operation = live_schema[path][method]

    @given(operation.as_strategy(generation_mode=mode))
    @settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES, derandomize=True)
    def call(case):
        case.body = localised(case.body, image_host)
        case.call_and_validate(checks=CHECKS)

    call()
