"""The JSON API through Django's test client: every way in, and every refusal as 4xx JSON."""

from __future__ import annotations

import base64

import pytest
from PIL import Image

from tests.support.api import assert_refused, post_image, post_json
from tests.support.httpserver import local_server, serve_bytes
from tests.support.images import image_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_an_upload_answers_the_whole_analysis(client, service, photo_bytes):
    response = post_image(client, photo_bytes)
    assert response.status_code == 200
    body = response.json()
    assert len(body["scenes"]) == 5
    probabilities = [s["probability"] for s in body["scenes"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert body["io"]["label"] in ("indoor", "outdoor")
    assert body["io"]["label"] == ("outdoor" if body["io"]["score"] >= 0.5 else "indoor")
    assert body["attributes"] == []
    assert "densenet201_sunattributes.pth" in body["attributes_note"]
    assert body["cam"]["index"] == body["scenes"][0]["index"]
    assert base64.b64decode(body["cam"]["png_base64"]).startswith(PNG_SIGNATURE)
    assert [c["index"] for c in body["cams"]] == [s["index"] for s in body["scenes"]]
    assert body["models"]["scene"]["name"] == "resnet18"
    assert body["timings_ms"]["total"] > 0


def test_heatmap_0_leaves_the_png_out(client, service, photo_bytes):
    body = post_image(client, photo_bytes, "?heatmap=0").json()
    assert body["cam"]["png_base64"] is None
    assert len(body["cam"]["grid"]) == 7


def test_cam_class_picks_the_heatmap_category(client, service, photo_bytes):
    body = post_image(client, photo_bytes, "?cam_class=42").json()
    assert body["cam"]["index"] == 42
    assert body["cam"]["label"] == "baseball_field"
    assert body["cam"]["png_base64"]


@pytest.mark.parametrize("value", ["365", "-1", "abc", "1.5"])
def test_it_rejects_a_cam_class_outside_the_categories(client, service, photo_bytes, value):
    assert_refused(
        post_image(client, photo_bytes, f"?cam_class={value}"),
        400,
        "cam_class_invalid",
        f"cam_class must be a category index from 0 to 364, not {value!r}.",
    )


def test_a_url_is_fetched_and_analysed_like_an_upload(client, service, photo_bytes):
    with local_server({"/photo.jpg": serve_bytes(photo_bytes, "image/jpeg")}) as base:
        by_url = post_json(client, {"url": f"{base}/photo.jpg"}, "?heatmap=0").json()
    by_upload = post_image(client, photo_bytes, "?heatmap=0").json()
    assert by_url["scenes"] == by_upload["scenes"]
    assert by_url["io"] == by_upload["io"]


def test_a_sample_is_analysed_by_name(client, service, sample_photos):
    body = post_json(client, {"sample": sample_photos[-1].name}).json()
    by_upload = post_image(client, sample_photos[-1].read_bytes()).json()
    assert body["scenes"] == by_upload["scenes"]


@pytest.mark.parametrize("name", ["nope.jpg", "../samples/mountains.jpg", "/etc/passwd", "..", "", 7, None])
def test_it_answers_404_for_a_sample_that_is_not_in_the_gallery(client, service, name):
    response = post_json(client, {"sample": name})
    assert_refused(response, 404, "sample_not_found", f"There is no sample photo called {str(name)[:80]!r}.")


def test_it_rejects_a_file_that_is_not_an_image(client, service):
    assert_refused(
        post_image(client, b"hello, not a photo", name="notes.txt"),
        400,
        "unsupported_format",
        "This is not an image format we accept; please send JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF or AVIF.",
    )


def test_it_rejects_an_empty_file(client, service):
    assert_refused(post_image(client, b""), 400, "empty_file", "The file is empty.")


def test_it_rejects_a_truncated_jpeg(client, service, photo_bytes):
    assert_refused(post_image(client, photo_bytes[:2000]), 400, "corrupt_image")


def test_it_rejects_a_file_over_the_upload_limit(client, service, settings):
    settings.SCENEWEB_MAX_UPLOAD_MB = 1
    big = image_bytes(Image.new("RGB", (8, 8)), "PNG") + b"\0" * (1024 * 1024)
    assert_refused(post_image(client, big, name="big.png"), 413, "file_too_large")


def test_it_asks_for_an_image_when_none_is_sent(client, service):
    assert_refused(
        client.post("/api/analyze"),
        400,
        "no_image",
        "Send the photo as the multipart field `image` (curl -F image=@photo.jpg), or JSON with `url` or `sample`.",
    )


@pytest.mark.parametrize("body", [{}, {"image": "x"}])
def test_it_asks_for_url_or_sample_in_json(client, service, body):
    assert_refused(post_json(client, body), 400, "no_image", 'Send {"url": "https://..."} or {"sample": "name.jpg"}.')


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"a string"'])
def test_it_rejects_json_that_is_not_an_object(client, service, body):
    assert_refused(post_json(client, body), 400, "bad_json")


def test_it_refuses_a_private_address(client, service):
    assert_refused(post_json(client, {"url": "http://10.1.2.3/photo.jpg"}), 400, "address_private")


def test_it_refuses_the_metadata_address(client, service):
    assert_refused(post_json(client, {"url": "http://169.254.169.254/latest/"}), 400, "address_link_local")


@pytest.mark.parametrize("url", ["", "   ", None, 12])
def test_it_asks_for_a_url_when_it_is_empty(client, service, url):
    assert_refused(post_json(client, {"url": url}), 400, "url_missing", "Please give the address of an image.")


def test_a_url_that_answers_404_is_a_422(client, service):
    with local_server({}) as base:
        assert_refused(post_json(client, {"url": f"{base}/gone.jpg"}), 422, "http_error")


def test_a_url_that_is_not_an_image_is_a_422(client, service):
    with local_server({"/page": serve_bytes(b"<html></html>", "text/html")}) as base:
        assert_refused(post_json(client, {"url": f"{base}/page"}), 422, "not_an_image")


def test_it_answers_405_json_to_a_get_on_analyze(client, service):
    assert_refused(client.get("/api/analyze"), 405, "method_not_allowed", "Use POST for /api/analyze.")


def test_unknown_api_paths_answer_404_json(client, service):
    assert_refused(client.get("/api/nothing-here"), 404, "not_found", "There is nothing at /api/nothing-here.")


def test_it_answers_503_when_the_weights_are_missing(client, service, use_models, tmp_path, photo_bytes):
    use_models(tmp_path)
    response = post_image(client, photo_bytes)
    assert_refused(response, 503, "weights_missing")
    assert str(tmp_path / "resnet18_places365.pth.tar") in response.json()["error"]
    assert "manage.py fetch_models" in response.json()["error"]


def test_health_tells_anyone_only_that_it_is_up_and_which_models_it_serves(client, service):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "models": {"scene": "resnet18", "attributes": None}}


def test_health_reports_versions_and_uptime_when_the_operator_asks(client, service):
    service.SCENEWEB_HEALTH_DETAILS = True
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["models"]["scene"]["name"] == "resnet18"
    assert body["models"]["attributes"] is None
    assert set(body["versions"]) == {"python", "torch", "torchvision", "django", "dash", "django-plotly-dash", "pillow"}
    assert body["uptime_s"] >= 0


def test_health_answers_503_without_weights(client, service, use_models, tmp_path):
    use_models(tmp_path)
    assert_refused(client.get("/api/health"), 503, "weights_missing")


def test_an_unexpected_failure_answers_500_json_without_a_traceback(service, photo_bytes, monkeypatch):
    from django.test import Client

    from classifier import views

    def broken():
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "get_analyzer", broken)
    response = post_image(Client(raise_request_exception=False), photo_bytes)
    assert_refused(response, 500, "internal", "Something went wrong on our side; please try again.")
    assert b"secret internals" not in response.content


def test_with_the_attribute_model_the_ten_strongest_attributes_are_listed(client, service, use_models, full_models_dir):
    use_models(full_models_dir)
    body = post_image(client, image_bytes(Image.new("RGB", (320, 240), (90, 140, 200))), "?heatmap=0").json()
    assert len(body["attributes"]) == 10
    scores = [a["score"] for a in body["attributes"]]
    assert scores == sorted(scores, reverse=True)
    assert body["attributes_note"] is None
    assert body["models"]["attributes"]["attributes"] == 102
