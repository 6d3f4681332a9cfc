"""The page and its Dash plumbing through Django's test client."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image

from classifier.middleware import script_hash
from tests.support.api import assert_refused

pytestmark = pytest.mark.django_db  # django-plotly-dash records its app in the database


def test_the_page_embeds_the_panel_and_its_scripts(client, service):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>sceneweb" in html
    assert "sceneweb.css" in html
    assert "DashRenderer" in html
    assert "_dash-config" in html
    assert "DJANGO_PLOTLY_DASH" not in html  # the middleware replaced its placeholders


def test_the_panel_layout_lists_the_samples(client, service, sample_photos):
    response = client.get("/django_plotly_dash/app/SceneWeb/_dash-layout")
    assert response.status_code == 200
    layout = json.dumps(response.json())
    for photo in sample_photos:
        assert f"/samples/{photo.name}/thumbnail.jpg" in layout
    assert '"uploads"' in layout and '"url-go"' in layout


def test_a_thumbnail_is_a_small_jpeg(client, service, sample_photos):
    response = client.get(f"/samples/{sample_photos[0].name}/thumbnail.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    assert max(image.size) == 160


def test_a_thumbnail_of_an_unknown_sample_is_a_404(client, service):
    response = client.get("/samples/secret.jpg/thumbnail.jpg")
    assert_refused(response, 404, "sample_not_found", "There is no sample photo called 'secret.jpg'.")


def test_every_script_the_page_runs_is_allowed_by_its_content_security_policy(client, service):
    """Script files come from this site; the one inline script is allowed by its hash, nothing else inline."""
    response = client.get("/")
    policy = dict(part.split(" ", 1) for part in response["Content-Security-Policy"].split("; "))
    allowed = policy["script-src"].split()
    assert "'unsafe-inline'" not in allowed and "'unsafe-eval'" not in allowed
    html = response.content.decode()
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", html, re.S)
    executable = [body for attributes, body in inline if "application/json" not in attributes]
    assert executable, "the page has lost Dash's renderer launcher"
    assert all(script_hash(body) in allowed for body in executable)
    assert all(src.startswith("/") for src in re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html))
    assert policy["frame-ancestors"] == "'none'"
    assert client.get("/django_plotly_dash/app/SceneWeb/_dash-layout")["Content-Security-Policy"].endswith(
        "frame-ancestors 'self'"
    )


def test_without_samples_the_gallery_is_hidden_and_the_operator_is_told(client, service, tmp_path, caplog):
    from django.core.management import call_command

    from classifier import gallery

    service.SCENEWEB_SAMPLES_DIR = tmp_path / "no-samples"
    gallery.log_missing_samples.cache_clear()
    layout = json.dumps(client.get("/django_plotly_dash/app/SceneWeb/_dash-layout").json())
    assert "Or try a sample" not in layout and "fetch_models" not in layout  # nothing for visitors
    assert "fetch_models --samples" in caplog.text  # the operator reads it in the log
    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "sceneweb.I001" in out.getvalue() and "fetch_models --samples" in out.getvalue()
    gallery.log_missing_samples.cache_clear()
