"""Requests to the JSON API through Django's test client, and the one check every refusal passes."""

from __future__ import annotations

import io


def post_image(client, data: bytes, query: str = "", name: str = "photo.jpg"):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post(f"/api/analyze{query}", {"image": upload})


def post_json(client, body, query: str = ""):
    return client.post(f"/api/analyze{query}", body, content_type="application/json")


def assert_refused(response, status: int, code: str, error: str | None = None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "code", "request_id"}
    assert body["code"] == code
    assert body["request_id"] == response["X-Request-ID"]
    assert "Traceback" not in body["error"]
    if error is not None:
        assert body["error"] == error
