"""What a call asks for: `outputs=` and `top_k`, and several photos in one request."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache

from classifier.engine import cam
from classifier.runtime import get_analyzer
from tests.support.api import assert_refused, post_image, post_json

ALWAYS = {"timings_ms", "models", "summary"}


@pytest.fixture
def counted(monkeypatch):
    """Counts of the attribute network's runs and of the PNGs rendered."""
    calls = {"attributes": 0, "png": 0}
    attribute_model = get_analyzer().attribute_model
    scores, render = attribute_model.scores, cam.render_overlay

    def counting_scores(batch):
        calls["attributes"] += 1
        return scores(batch)

    def counting_render(*args, **kwargs):
        calls["png"] += 1
        return render(*args, **kwargs)

    monkeypatch.setattr(attribute_model, "scores", counting_scores)
    monkeypatch.setattr(cam, "render_overlay", counting_render)
    return calls


@pytest.fixture
def fresh_service(service, use_models, fresh_models_dir):
    use_models(fresh_models_dir)  # with attributes (CSAIL's matrix over its own WideResNet-18 pass)
    return service


def test_scenes_and_io_run_neither_the_attribute_network_nor_the_png(client, fresh_service, counted, photo_bytes):
    body = post_image(client, photo_bytes, "?outputs=scenes,io").json()
    assert set(body) == {"scenes", "custom", "io"} | ALWAYS
    assert counted == {"attributes": 0, "png": 0}


def test_the_default_is_the_whole_analysis(client, fresh_service, counted, photo_bytes):
    body = post_image(client, photo_bytes).json()
    assert {"scenes", "io", "attributes", "attributes_note", "cam", "cams"} <= set(body)
    assert counted == {"attributes": 1, "png": 1}
    assert body["cam"]["png_base64"]


def test_cam_without_heatmap_gives_the_grids_and_no_png(client, fresh_service, counted, photo_bytes):
    body = post_image(client, photo_bytes, "?outputs=cam").json()
    assert set(body) == {"cam", "cams"} | ALWAYS
    assert body["cam"]["png_base64"] is None and len(body["cam"]["grid"]) == 7
    assert counted == {"attributes": 0, "png": 0}


def test_outputs_and_top_k_come_in_json_too(client, fresh_service, counted, sample_photos, samples_dir):
    body = post_json(client, {"sample": sample_photos[0].name, "outputs": ["attributes"], "top_k": 3}).json()
    assert set(body) == {"attributes", "attributes_note"} | ALWAYS
    assert len(body["attributes"]) == 10
    assert counted == {"attributes": 1, "png": 0}


def test_top_k_sets_how_many_scenes_are_listed(client, service, photo_bytes):
    body = post_image(client, photo_bytes, "?outputs=scenes&top_k=12").json()
    assert len(body["scenes"]) == 12


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?outputs=scenes,everything", "outputs_invalid"),
        ("?top_k=0", "top_k_invalid"),
        ("?top_k=366", "top_k_invalid"),
        ("?top_k=%C2%B2", "top_k_invalid"),
        ("?cam_class=%C2%B2", "cam_class_invalid"),
    ],
)
def test_it_refuses_options_it_cannot_honour(client, service, photo_bytes, query, code):
    assert_refused(post_image(client, photo_bytes, query), 400, code)


def test_a_superscript_digit_is_no_category_index(client, service, photo_bytes):
    """`"²".isdigit()` is true, and int("²") raises: it answered 500."""
    assert_refused(
        post_image(client, photo_bytes, "?cam_class=²"),
        400,
        "cam_class_invalid",
        "cam_class must be a category index from 0 to 364, not '²'.",
    )


def uploads(*contents: bytes) -> list:
    files = []
    for number, data in enumerate(contents):
        upload = io.BytesIO(data)
        upload.name = f"photo{number}.jpg"
        files.append(upload)
    return files


def test_several_uploads_answer_a_list_in_order_each_with_its_own_error(client, service, sample_photos):
    first, second = (p.read_bytes() for p in sample_photos[:2])
    response = client.post("/api/analyze?outputs=scenes", {"image": uploads(first, b"not an image", second)})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r.get("code") for r in results] == [None, "unsupported_format", None]
    assert results[1]["status"] == 400
    assert results[0]["scenes"] == post_image(client, first, "?outputs=scenes").json()["scenes"]
    assert results[2]["scenes"] == post_image(client, second, "?outputs=scenes").json()["scenes"]


def test_a_json_list_mixes_samples_and_urls(client, service, sample_photos):
    images = [{"sample": sample_photos[0].name}, {"sample": "nope.jpg"}, {"url": ""}, {"something": 1}]
    results = post_json(client, {"images": images, "outputs": "io"}).json()["results"]
    assert [r.get("code") for r in results] == [None, "sample_not_found", "url_missing", "no_image"]
    assert set(results[0]) == {"io"} | ALWAYS


def test_a_cam_class_out_of_range_refuses_several_photos_whole_before_any_is_read(
    client, service, sample_photos, monkeypatch
):
    monkeypatch.setattr("classifier.sources.sample_bytes", lambda name: pytest.fail("a photo was read"))
    images = [{"sample": sample_photos[0].name}] * 2
    assert_refused(
        post_json(client, {"images": images, "cam_class": 365}),
        400,
        "cam_class_invalid",
        "cam_class must be a category index from 0 to 364, not '365'.",
    )


def test_more_photos_than_the_limit_are_refused_whole(client, service, settings, photo_bytes):
    settings.SCENEWEB_MAX_IMAGES_PER_REQUEST = 2
    response = client.post("/api/analyze", {"image": uploads(photo_bytes, photo_bytes, photo_bytes)})
    assert_refused(response, 413, "too_many_images")


def test_each_photo_takes_a_slot_of_the_rate_limit(client, service, settings, frozen_minute, sample_photos):
    settings.SCENEWEB_RATE_LIMIT = 3
    cache.clear()  # this minute's count starts at nothing
    images = [{"sample": sample_photos[0].name}] * 4
    codes = [r.get("code") for r in post_json(client, {"images": images, "outputs": "io"}).json()["results"]]
    assert codes == [None, None, None, "rate_limited"]
    assert_refused(post_json(client, {"sample": sample_photos[0].name}), 429, "rate_limited")


def test_attribute_maps_come_when_asked_for(client, fresh_service, photo_bytes):
    body = post_image(client, photo_bytes, "?outputs=attributes,attribute_maps").json()
    assert set(body) == {"attributes", "attributes_note", "attribute_maps"} | ALWAYS
    assert [m["label"] for m in body["attribute_maps"]] == [a["label"] for a in body["attributes"]]
    assert len(body["attribute_maps"][0]["grid"]) == 14  # WideResNet-18's layer4 map at 224 px
    assert "attribute_maps" not in post_image(client, photo_bytes).json()  # not by default
