"""Every domain error is answered from one table of codes, whatever the error object itself carries."""

from __future__ import annotations

import json

import pytest

from classifier.engine.errors import (
    DatasetError,
    DownloadFailed,
    FetchFailed,
    ImageRejected,
    ModelFileError,
    SceneWebError,
    UrlRefused,
    WeightsMissing,
)
from classifier.engine.installer import ModelsDirUnwritable
from classifier.engine.manifest import HashMismatch
from classifier.gallery import SampleNotFound
from classifier.http_errors import error_response, http_status
from classifier.middleware import RequestTooLarge
from classifier.ratelimit import RateLimited


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (SceneWebError("x", code="bad_json"), 400),
        (ImageRejected("x", code="corrupt_image"), 400),
        (ImageRejected("x", code="file_too_large"), 413),
        (ImageRejected("x", code="too_many_pixels"), 413),
        (ImageRejected("x", code="decompression_bomb"), 413),
        (UrlRefused("x", code="address_private"), 400),
        (FetchFailed("x", code="dns_failed"), 422),
        (ModelFileError("x", code="weights_invalid"), 503),
        (WeightsMissing("x"), 503),
        (DownloadFailed("x"), 502),
        (HashMismatch("x"), 502),
        (ModelsDirUnwritable("x"), 507),
        (DatasetError("x"), 400),
        (SampleNotFound("x"), 404),
        (RequestTooLarge("x"), 413),
        (RateLimited(retry_after=7), 429),
        (SceneWebError("x", code="method_not_allowed"), 405),
        (SceneWebError("x", code="json_required"), 415),
        (SceneWebError("x", code="csrf_failed"), 403),
        (SceneWebError("x", code="not_found"), 404),
    ],
)
def test_each_error_gets_the_status_of_its_code_or_else_of_its_class(error, status):
    assert http_status(error) == status


def test_a_refusal_answers_its_words_and_code_and_a_rate_limit_says_when_to_retry(rf):
    response = error_response(rf.post("/api/analyze"), RateLimited(retry_after=7))
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert json.loads(response.content) == {
        "error": "Too many analyses from your address; please wait 7 s.",
        "code": "rate_limited",
        "request_id": "-",  # outside the middleware: no request id
    }
