"""/api/openapi.json and /api/docs: generated from the code's models, complete, served from this site."""

from __future__ import annotations

import dataclasses
import re

from django.contrib.staticfiles import finders

from classifier import api_schema
from classifier.engine import analyzer, scores
from classifier.engine.custom import CustomResult
from classifier.http_errors import STATUS_BY_CODE
from classifier.openapi import codes_by_status
from classifier.testing.paths import REPO

SCHEMA_OF = {
    analyzer.Analysis: api_schema.Analysis,
    analyzer.IndoorOutdoor: api_schema.IndoorOutdoor,
    analyzer.AttributeScore: api_schema.AttributeScore,
    scores.SceneScore: api_schema.SceneScore,
    scores.Heatmap: api_schema.Heatmap,
    CustomResult: api_schema.CustomResult,
}


def test_the_document_is_openapi_3_1_with_every_endpoint(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {"/api/analyze", "/api/health", "/api/ready"}
    parameters = {p["name"] for p in document["paths"]["/api/analyze"]["post"]["parameters"]}
    assert parameters == {"outputs", "top_k", "heatmap", "cam_class"}


def test_every_field_of_the_engine_analysis_is_in_the_schema():
    for dataclass, model in SCHEMA_OF.items():
        fields = {field.name for field in dataclasses.fields(dataclass)}
        assert fields <= set(model.model_fields), f"{dataclass.__name__} fields missing from {model.__name__}"


def test_every_error_code_is_listed_with_the_status_it_is_answered_with(client):
    responses = client.get("/api/openapi.json").json()["paths"]["/api/analyze"]["post"]["responses"]
    documented = {
        code: int(status)
        for status, answer in responses.items()
        if status != "200"
        for code in answer["content"]["application/json"]["schema"]["properties"]["code"]["enum"]
    }
    for code, status in STATUS_BY_CODE.items():
        if code in documented:
            assert documented[code] == status, code
    assert documented["cam_class_invalid"] == 400 and documented["rate_limited"] == 429
    assert documented["api_key_required"] == 401 and documented["weights_missing"] == 503


def raised_codes(*folders: str) -> set[str]:
    """Every `code="..."` the modules on the API's path raise."""
    places = [REPO / folder for folder in folders]
    sources = [path for place in places for path in ([place] if place.is_file() else place.rglob("*.py"))]
    assert all(place.exists() for place in places)
    return {code for path in sources for code in re.findall(r'code="([a-z_0-9]+)"', path.read_text())}


def test_every_code_the_api_path_raises_is_documented():
    api_path = (
        "classifier/engine/image_checks.py",
        "classifier/engine/decode_sandbox.py",
        "classifier/engine/checkpoints.py",
        "classifier/engine/errors.py",
        "classifier/middleware.py",
        "classifier/sharedcache.py",
        "classifier/engine/fetch",
        "classifier/engine/imaging.py",
        "classifier/sources.py",
        "classifier/views.py",
        "classifier/api_request.py",
        "classifier/decorators.py",
        "classifier/apikeys.py",
    )
    documented = {code for codes in codes_by_status().values() for code in codes}
    panel_only = {"json_required", "csrf_failed"}  # views.py's panel door; the API is CSRF-exempt and takes any type
    assert raised_codes(*api_path) - documented - panel_only == set()


def test_the_docs_page_runs_swagger_ui_from_this_site_within_the_policy(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(source.startswith("/static/ninja/") for source in sources)
    assert all(finders.find(source.removeprefix("/static/")) for source in sources)
    assert not re.search(r"<script>(?!</script>)", page)  # no inline script: the policy would block it
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "cdn" not in page.lower()
