"""A tiny HTTP server on 127.0.0.1 for tests: routes map paths to handlers we control; and what a
hostile remote server may answer instead of an image."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


def serve_bytes(body: bytes, content_type: str = "application/octet-stream", status: int = 200) -> Route:
    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handler


@contextmanager
def local_server(routes: dict[str, Route]):
    """Yields the base URL (http://127.0.0.1:PORT); unknown paths answer 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            with suppress(BrokenPipeError, ConnectionResetError):
                route(self)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def http_answer(*headers: str, body: bytes = b"\xff\xd8\xff\xe0") -> bytes:
    """A whole HTTP/1.1 answer as raw bytes, so its headers can say what no server library would."""
    head = "".join(f"{header}\r\n" for header in ("HTTP/1.1 200 OK", "Content-Type: image/jpeg", *headers))
    return head.encode("latin-1") + b"\r\n" + body


def hostile_http_answers() -> dict[str, tuple[bytes, str]]:
    """What a remote image server may answer instead of an image: raw answer -> expected code (all 422).

    A test server sends these bytes as they are, then closes the connection."""
    return {
        "Content-Length abc": (http_answer("Content-Length: abc"), "bad_content_length"),
        "negative Content-Length": (http_answer("Content-Length: -4"), "bad_content_length"),
        "Content-Length with a sign": (http_answer("Content-Length: +4"), "bad_content_length"),
        "two different Content-Lengths": (http_answer("Content-Length: 4, 5"), "bad_content_length"),
        "Content-Length as a float": (http_answer("Content-Length: 4.0"), "bad_content_length"),
        "huge Content-Length": (http_answer("Content-Length: 99999999999999999999999"), "remote_file_too_large"),
        "Content-Length of 5000 digits": (http_answer("Content-Length: " + "9" * 5000), "remote_file_too_large"),
        "body shorter than its Content-Length": (http_answer("Content-Length: 400"), "bad_response"),
        "not HTTP at all": (b"SSH-2.0-OpenSSH_9.6\r\n", "bad_response"),
        "a status line, then the end: no image": (b"HTTP/1.1 200 OK\r\n", "not_an_image"),
        "broken chunked body": (http_answer("Transfer-Encoding: chunked", body=b"zz\r\n\xff\xd8\r\n"), "bad_response"),
        "gzip we did not ask for": (http_answer("Content-Encoding: gzip", "Content-Length: 4"), "bad_content_encoding"),
    }
