"""/api/openapi.json: the OpenAPI 3.1 document, built from the pydantic models of `api_schema`, the
codes the API answers and their statuses (`http_errors.http_status`, the one table of statuses).

The paths are listed here; every body, parameter and answer inside them comes from a model.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from classifier import api_schema
from classifier.engine.errors import (
    FetchFailed,
    ImageRejected,
    ModelFileError,
    OptionInvalid,
    SceneWebError,
    UrlRefused,
)
from classifier.engine.fetch._addresses import REFUSED_RANGES
from classifier.gallery import SampleNotFound
from classifier.http_errors import http_status
from classifier.middleware import LengthRequired, RequestTooLarge
from classifier.ratelimit import RateLimited
from classifier.sharedcache import CacheUnavailable

REF = "#/components/schemas/{model}"

# Every code the API's endpoints answer, by the class that raises it (which sets its status).
ANSWERED_CODES: tuple[tuple[type[SceneWebError], tuple[str, ...]], ...] = (
    (OptionInvalid, ("cam_class_invalid", "top_k_invalid")),
    (
        SceneWebError,
        (
            "no_image",
            "bad_json",
            "bad_multipart",
            "outputs_invalid",
            "output_unavailable",
            "too_many_images",
            "url_missing",
            "not_found",
            "method_not_allowed",
            "host_not_allowed",
            "too_many_fields",
            "too_many_files",
        ),
    ),
    (
        ImageRejected,
        (
            "empty_file",
            "unsupported_format",
            "corrupt_image",
            "polyglot_file",
            "file_too_large",
            "too_many_pixels",
            "decompression_bomb",
            "too_many_scans",
            "extreme_aspect_ratio",
            "decode_memory",
            "decode_timeout",
            "decoder_crashed",
        ),
    ),
    (
        UrlRefused,
        (
            "url_invalid",
            "url_too_long",
            "url_scheme",
            "url_credentials",
            *sorted({f"address_{refused.kind}" for refused in REFUSED_RANGES}),
        ),
    ),
    (
        FetchFailed,
        (
            "http_error",
            "not_an_image",
            "fetch_timeout",
            "connect_failed",
            "dns_failed",
            "tls_failed",
            "remote_file_too_large",
            "too_many_redirects",
            "bad_redirect",
            "bad_content_encoding",
            "bad_content_length",
            "bad_response",
        ),
    ),
    (SampleNotFound, ("sample_not_found",)),
    (RequestTooLarge, ("request_too_large",)),
    (LengthRequired, ("length_required",)),
    (CacheUnavailable, ("cache_unavailable",)),
    (RateLimited, ("rate_limited",)),
    (SceneWebError, ("api_key_required", "api_key_invalid")),
    (
        ModelFileError,
        (
            "model_file",
            "weights_missing",
            "weights_invalid",
            "weights_refused",
            "weights_wrong_architecture",
            "model_unreadable",
            "labels_missing",
            "labels_malformed",
        ),
    ),
)
INTERNAL = (500, "internal")  # a bug: logged with its traceback, plain words to the client


def codes_by_status() -> dict[int, list[str]]:
    """{status: [codes]} for every code the API answers, statuses from the one table."""
    table: dict[int, list[str]] = {INTERNAL[0]: [INTERNAL[1]]}
    for error_class, codes in ANSWERED_CODES:
        for code in codes:
            error = error_class.__new__(error_class)
            error.code = code
            table.setdefault(http_status(error), []).append(code)
    return dict(sorted(table.items()))


def error_responses(*statuses: int) -> dict:
    """One response per status; its body is the error shape with `code` limited to that status's codes."""
    table = codes_by_status()
    return {
        str(status): {
            "description": "Codes: " + ", ".join(f"`{code}`" for code in table[status]),
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [{"$ref": REF.format(model="Error")}],
                        "properties": {"code": {"enum": table[status]}},
                    }
                }
            },
        }
        for status in statuses
        if status in table
    }


def json_answer(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def query_parameters(model: type[BaseModel]) -> list[dict]:
    """Each field of a pydantic model as an OpenAPI query parameter, schema and words from the field."""
    schema = model.model_json_schema()
    parameters = []
    for name, field in schema["properties"].items():
        description = field.pop("description", "")
        field.pop("title", None)
        field.pop("default", None)
        # an absent parameter is the default; there is no null in a query string
        branches = [branch for branch in field.pop("anyOf", []) if branch.get("type") != "null"]
        field = {**(branches[0] if branches else {}), **field}
        parameters.append({"name": name, "in": "query", "required": False, "description": description, "schema": field})
    return parameters


def analyze_operation() -> dict:
    all_statuses = tuple(codes_by_status())
    return {
        "operationId": "analyze",
        "summary": "Analyse one photo, or several",
        "description": (
            "One photo (a multipart `image`, or JSON `url` or `sample`) answers its analysis; several "
            '(repeated `image` fields, or JSON `images`) answer `{"results": [...]}` in order, each item '
            "an analysis or that photo's own error. Each photo takes one slot of the rate limit. When the "
            "operator sets SCENEWEB_API_KEYS, send `Authorization: Bearer <key>`."
        ),
        "parameters": query_parameters(api_schema.AnalyzeQuery),
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": ref(api_schema.AnalyzeUpload)},
                "application/json": {"schema": ref(api_schema.AnalyzeJson)},
            },
        },
        "security": [{}, {"apiKey": []}],
        "responses": {
            "200": json_answer(
                "The analysis, or the results of several photos.",
                {"anyOf": [ref(api_schema.Analysis), ref(api_schema.Results)]},
            ),
            **error_responses(*(status for status in all_statuses if status >= 400)),
        },
    }


def get_operation(operation_id: str, summary: str, model: type[BaseModel], statuses: tuple[int, ...]) -> dict:
    return {
        "operationId": operation_id,
        "summary": summary,
        "responses": {"200": json_answer(summary, ref(model)), **error_responses(*statuses)},
    }


@cache
def openapi_document() -> dict:
    models = (
        api_schema.Analysis,
        api_schema.Results,
        api_schema.Error,
        api_schema.AnalyzeJson,
        api_schema.AnalyzeUpload,
        api_schema.Health,
        api_schema.Ready,
    )
    _, definitions = models_json_schema([(model, "serialization") for model in models], ref_template=REF)
    ready = get_operation("ready", "Ready to serve: models loaded, shared cache reachable", api_schema.Ready, (405,))
    ready["responses"]["503"] = json_answer("Not ready: which check failed.", ref(api_schema.Ready))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sceneweb",
            "version": "1",
            "description": "Places365 scenes, indoor/outdoor, SUN attributes and class-activation heatmaps of a photo.",
        },
        "paths": {
            "/api/analyze": {"post": analyze_operation()},
            "/api/health": {
                "get": get_operation("health", "Alive: the models are loaded", api_schema.Health, (405, 503))
            },
            "/api/ready": {"get": ready},
        },
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Only when the operator sets SCENEWEB_API_KEYS (or SCENEWEB_API_KEYS_FILE).",
                }
            },
        },
    }
