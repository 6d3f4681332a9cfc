"""The one place a domain error becomes an HTTP answer.

The engine's errors carry a short code and plain words, nothing about HTTP; this table says
which status each code is answered with. A code not listed is answered as its class's own
code is (an `ImageRejected` with any code is a 400, a `ModelFileError` a 503), so a new code
needs a row only when it must be answered otherwise than its class.
"""

from __future__ import annotations

from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, JsonResponse

from classifier.engine.errors import SceneWebError
from classifier.metrics import REFUSALS
from classifier.ratelimit import RateLimited
from classifier.requestid import request_id
from classifier.requestlog import log_refusal

STATUS_BY_CODE = {
    # the classes' own codes (classifier/engine/errors.py and the web layer's errors)
    "error": 400,  # SceneWebError: the request itself is wrong
    "image_rejected": 400,
    "url_refused": 400,
    "dataset_invalid": 400,
    "option_invalid": 400,
    "fetch_failed": 422,  # the URL was fine, what it served was not
    "download_failed": 502,
    "model_file": 503,  # a model file is missing or broken: the service cannot answer until it is installed
    "models_dir_unwritable": 507,
    "cache_unavailable": 503,  # Redis down or the cache's disk full: nothing the client did
    "rate_limited": 429,
    "request_too_large": 413,
    "length_required": 411,
    "sample_not_found": 404,
    # codes answered otherwise than their class
    "file_too_large": 413,
    "too_many_pixels": 413,
    "decompression_bomb": 413,
    "too_many_scans": 413,  # a JPEG built to make the decoder walk its pixels thousands of times
    "decode_timeout": 413,  # the decode passed SCENEWEB_DECODE_TIMEOUT and was killed
    "decode_memory": 413,  # the decode needs more than SCENEWEB_DECODE_MEMORY_MB
    "not_found": 404,
    "method_not_allowed": 405,
    "json_required": 415,
    "csrf_failed": 403,
    "api_key_required": 401,
    "api_key_invalid": 401,
    "too_many_images": 413,
    "host_not_allowed": 400,
    "too_many_fields": 400,
    "too_many_files": 400,
}

# Django's refusals of a request (SuspiciousOperation, answered 400 through `views.bad_request`).
SUSPICIOUS_REQUESTS = {
    DisallowedHost: ("This server does not answer for that Host header.", "host_not_allowed"),
    TooManyFieldsSent: ("The request has more form fields than this server reads.", "too_many_fields"),
    TooManyFilesSent: ("The request has more file parts than this server reads.", "too_many_files"),
    RequestDataTooBig: ("The request is larger than this server reads.", "request_too_large"),
}


def http_status(error: SceneWebError) -> int:
    """The error's own code if the table lists it, else the nearest class code it lists."""
    codes = (error.code, *(cls.__dict__.get("code") for cls in type(error).__mro__))
    return next(STATUS_BY_CODE[code] for code in codes if code in STATUS_BY_CODE)


def error_body(message: str, code: str) -> dict:
    """The one shape of an error: plain words, a short code, and the request's id to quote."""
    return {"error": message, "code": code, "request_id": request_id()}


def suspicious_request_error(exception: Exception) -> SceneWebError:
    """One of Django's refusals in our words (the exception's own text may echo what the client sent)."""
    message, code = next(
        (words for kind, words in SUSPICIOUS_REQUESTS.items() if isinstance(exception, kind)),
        ("The request is malformed.", "bad_request"),
    )
    return SceneWebError(message, code=code)


def error_response(request: HttpRequest, error: SceneWebError) -> JsonResponse:
    """Plain words and a short code, 4xx or 5xx, and one log line; nothing else reaches the client."""
    status = http_status(error)
    log_refusal(request, error, status)
    REFUSALS.labels(error.code).inc()
    response = JsonResponse(error_body(error.message, error.code), status=status)
    if isinstance(error, RateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response
