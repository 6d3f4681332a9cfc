"""The page and its Dash plumbing through Django's test client."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

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
    assert '"upload"' in layout and '"url-go"' in layout


def test_a_thumbnail_is_a_small_jpeg(client, service, sample_photos):
    response = client.get(f"/samples/{sample_photos[0].name}/thumbnail.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    assert max(image.size) == 160


def test_a_thumbnail_of_an_unknown_sample_is_a_404(client, service):
    response = client.get("/samples/secret.jpg/thumbnail.jpg")
    assert response.status_code == 404
    assert response.json() == {"error": "There is no sample photo called 'secret.jpg'.", "code": "sample_not_found"}


def test_a_sample_click_goes_through_the_dash_update_endpoint(client, service, sample_photos):
    name = sample_photos[0].name
    sample_id = {"type": "sample", "name": name}
    body = {
        "output": "..analysis.data...photo-store.data...error.children...status.children..",
        "outputs": [
            {"id": "analysis", "property": "data"},
            {"id": "photo-store", "property": "data"},
            {"id": "error", "property": "children"},
            {"id": "status", "property": "children"},
        ],
        "inputs": [
            {"id": "upload", "property": "contents", "value": None},
            {"id": "url-go", "property": "n_clicks", "value": None},
            {"id": "url", "property": "n_submit", "value": None},
            [{"id": sample_id, "property": "n_clicks", "value": 1}],
        ],
        "state": [{"id": "url", "property": "value", "value": None}],
        "changedPropIds": [json.dumps(sample_id, separators=(",", ":"), sort_keys=True) + ".n_clicks"],
    }
    response = client.post(
        "/django_plotly_dash/app/SceneWeb/_dash-update-component", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content[:500]
    answer = response.json()["response"]
    assert len(answer["analysis"]["data"]["scenes"]) == 5
    assert answer["photo-store"]["data"].startswith("data:image/jpeg;base64,")
    assert answer["error"]["children"] == ""
    assert answer["status"]["children"] == f"Analysed sample {name}."
