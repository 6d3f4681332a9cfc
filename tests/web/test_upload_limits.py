"""Every body the service reads stays in memory and within one limit: an upload over the image limit
is a 413 (never a temporary file, whose full disk was a 500), and a chunked body, which Django would
read as empty, is told to send a Content-Length (tested against real gunicorn through a raw socket)."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

import pytest

from classifier.testing.servers import running_gunicorn
from tests.support.api import assert_refused, post_image


def test_an_upload_between_the_image_and_the_request_limit_is_a_413_read_in_memory(client, service, tmp_path):
    service.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "no-such-folder")  # a temporary file would fail here
    size = service.SCENEWEB_MAX_UPLOAD_MB * 2**20 + 2**20
    assert size < service.SCENEWEB_MAX_REQUEST_BYTES
    response = post_image(client, b"\xff\xd8\xff" + b"\0" * size)
    assert_refused(response, 413, "file_too_large")


def raw_exchange(port: int, request: bytes) -> tuple[int, dict]:
    """Send `request` byte for byte as written, and read the answer as an HTTP client would."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        return answer.status, json.loads(answer.read())


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").exists(), reason="the test server finds its workers in /proc (Linux)")
def test_a_chunked_upload_is_told_to_send_a_content_length(models_dir, photo_bytes):
    boundary = "sceneweb"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo_bytes
        + f"\r\n--{boundary}--\r\n".encode()
    )
    chunked = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:1000], body[1000:]))
    request = (
        b"POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        + f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunked
        + b"0\r\n\r\n"
    )
    with running_gunicorn(models_dir, workers=1, threads=1) as server:
        status, answer = raw_exchange(server.port, request)
    assert status == 411
    assert answer == {
        "error": "Send the request with a Content-Length header (this server does not read chunked bodies); "
        "curl -F image=@photo.jpg does.",
        "code": "length_required",
    }
