"""The URL fetcher: address policy (a pure table), then real fetches from a server on 127.0.0.1.

DNS is simulated by replacing `socket.getaddrinfo` for made-up names (*.test); numeric hosts
never reach it. The loopback server is only reachable with the test-only `allow_loopback`.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress

import pytest
from PIL import Image

from classifier.engine.errors import FetchFailed, UrlRefused
from classifier.engine.fetch import (
    Deadline,
    FetchPolicy,
    check_address,
    check_target,
    fetch_image,
    literal_address,
    pinned_connection,
)
from tests.support.httpserver import hostile_http_answers, local_server, serve_bytes
from tests.support.images import image_bytes

LOCAL = FetchPolicy(allow_loopback=True, max_bytes=1024 * 1024, connect_timeout=2, total_timeout=5)
JPEG = image_bytes(Image.new("RGB", (32, 24), (10, 120, 200)))


# The IANA special-purpose registries (IPv4 and IPv6) and multicast, written out here on their
# own so the policy is checked against the registries, not against the code's table or the
# ipaddress module's flags (which changed between Python patch releases).
REFUSED = [
    ("0.0.0.0/8", "address_unspecified"),
    ("10.0.0.0/8", "address_private"),
    ("100.64.0.0/10", "address_private"),
    ("127.0.0.0/8", "address_loopback"),
    ("169.254.0.0/16", "address_link_local"),
    ("172.16.0.0/12", "address_private"),
    ("192.0.0.0/24", "address_not_public"),
    ("192.0.2.0/24", "address_not_public"),
    ("192.31.196.0/24", "address_not_public"),
    ("192.52.193.0/24", "address_not_public"),
    ("192.88.99.0/24", "address_not_public"),
    ("192.168.0.0/16", "address_private"),
    ("192.175.48.0/24", "address_not_public"),
    ("198.18.0.0/15", "address_not_public"),
    ("198.51.100.0/24", "address_not_public"),
    ("203.0.113.0/24", "address_not_public"),
    ("224.0.0.0/4", "address_multicast"),
    ("240.0.0.0/4", "address_reserved"),
    ("255.255.255.255/32", "address_reserved"),
    ("::/128", "address_unspecified"),
    ("::1/128", "address_loopback"),
    ("64:ff9b:1::/48", "address_private"),
    ("100::/64", "address_reserved"),
    ("2001::/23", "address_not_public"),
    ("2001:db8::/32", "address_not_public"),
    ("2620:4f:8000::/48", "address_not_public"),
    ("3fff::/20", "address_not_public"),
    ("5f00::/16", "address_reserved"),
    ("fc00::/7", "address_private"),
    ("fec0::/10", "address_private"),
    ("fe80::/10", "address_link_local"),
    ("ff00::/8", "address_multicast"),
    ("4000::/2", "address_reserved"),  # IPv6 outside 2000::/3 is not allocated for unicast
    ("::2/127", "address_reserved"),  # the deprecated IPv4-compatible space
]


def _edges(network: str) -> list[str]:
    net = ipaddress.ip_network(network)
    return sorted({str(net[0]), str(net[net.num_addresses // 2]), str(net[-1])})


@pytest.mark.parametrize(
    ("address", "code"),
    [(address, code) for network, code in REFUSED for address in _edges(network)]
    + [
        ("192.0.0.8", "address_not_public"),  # "global" to ipaddress on some 3.11/3.12 patch levels
        ("192.0.0.9", "address_not_public"),
        ("192.0.0.170", "address_not_public"),
        ("::7f00:1", "address_reserved"),  # IPv4-compatible form of 127.0.0.1
        ("::ffff:127.0.0.1", "address_loopback"),
        ("::ffff:0.0.0.0", "address_unspecified"),
        ("::ffff:169.254.169.254", "address_link_local"),
        ("::ffff:192.0.0.9", "address_not_public"),
        ("64:ff9b::a9fe:a9fe", "address_link_local"),  # NAT64 of 169.254.169.254
        ("64:ff9b::10.0.0.1", "address_private"),
        ("2002:7f00:1::", "address_loopback"),  # 6to4 wrapping 127.0.0.1
        ("2002:c0a8:101::1", "address_private"),  # 6to4 wrapping 192.168.1.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "address_not_public"),  # Teredo
    ],
)
def test_it_refuses_every_special_purpose_address(address, code):
    with pytest.raises(UrlRefused) as refused:
        check_address(ipaddress.ip_address(address))
    assert refused.value.code == code
    assert refused.value.message.startswith("We do not fetch from ")


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.0.0.1",
        "100.63.255.255",  # just outside 100.64.0.0/10
        "100.128.0.0",
        "172.15.255.255",  # around 172.16.0.0/12
        "172.32.0.0",
        "192.0.1.1",
        "198.17.255.255",  # around 198.18.0.0/15
        "198.20.0.0",
        "223.255.255.255",  # the last unicast address before multicast
        "2606:4700::1111",
        "2001:200::1",  # just past 2001::/23
        "2001:db9::1",
        "2003::1",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::1",  # 6to4 wrapping 8.8.8.8
    ],
)
def test_it_accepts_public_addresses(address):
    check_address(ipaddress.ip_address(address))


def test_allowing_loopback_opens_nothing_else():
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        check_address(ipaddress.ip_address(address), allow_loopback=True)
    for address in ("169.254.169.254", "10.0.0.1", "0.0.0.0", "192.0.0.9", "fc00::1", "::"):
        with pytest.raises(UrlRefused):
            check_address(ipaddress.ip_address(address), allow_loopback=True)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("[::1]", "::1"),
    ],
)
def test_it_reads_odd_spellings_as_the_address_they_are(host, address):
    assert literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "08.0.0.1", "256.1.1.1.1", "0x1g.1"])
def test_names_are_not_addresses(host):
    assert literal_address(host) is None


@pytest.fixture
def fake_dns(monkeypatch):
    """Answers for made-up *.test names; records every lookup of them."""
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            lookups.append(host)
            queue = answers[host]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses
            ]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


@pytest.mark.parametrize(
    "url", ["http://2130706433/a.jpg", "http://0177.0.0.1/a.jpg", "http://127.1/a.jpg", "http://[::ffff:127.0.0.1]/"]
)
def test_it_refuses_loopback_in_any_spelling_without_a_lookup(url, fake_dns):
    with pytest.raises(UrlRefused) as refused:
        fetch_image(url, FetchPolicy())
    assert refused.value.code == "address_loopback"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/a.jpg", "url_scheme"),
        ("file:///etc/passwd", "url_scheme"),
        ("gopher://example.com/", "url_scheme"),
        ("not a url", "url_invalid"),
        ("http://", "url_invalid"),
        ("http://user:secret@example.com/a.jpg", "url_credentials"),
    ],
)
def test_it_refuses_malformed_urls(url, code):
    with pytest.raises(UrlRefused) as refused:
        fetch_image(url, FetchPolicy())
    assert refused.value.code == code


def test_a_name_is_refused_when_any_of_its_addresses_is_private(fake_dns):
    answers, _ = fake_dns
    answers["mixed.test"] = [["93.184.216.34", "10.0.0.7"]]
    with pytest.raises(UrlRefused) as refused:
        fetch_image("http://mixed.test/a.jpg", FetchPolicy())
    assert refused.value.code == "address_private"


def test_an_unknown_name_fails_cleanly():
    with pytest.raises(FetchFailed) as failed:
        fetch_image("http://no-such-host.invalid/a.jpg", FetchPolicy())
    assert failed.value.code == "dns_failed"


def test_it_fetches_an_image_from_an_allowed_address():
    with local_server({"/photo.jpg": serve_bytes(JPEG, "image/jpeg")}) as base:
        assert fetch_image(f"{base}/photo.jpg", LOCAL) == JPEG


def test_loopback_is_refused_by_default():
    with local_server({"/photo.jpg": serve_bytes(JPEG, "image/jpeg")}) as base:
        with pytest.raises(UrlRefused) as refused:
            fetch_image(f"{base}/photo.jpg", FetchPolicy())
    assert refused.value.code == "address_loopback"


def redirect_to(location: str):
    def handler(request):
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return handler


def test_a_redirect_to_the_metadata_service_is_refused():
    routes = {"/start": redirect_to("http://169.254.169.254/latest/meta-data/")}
    with local_server(routes) as base:
        with pytest.raises(UrlRefused) as refused:
            fetch_image(f"{base}/start", LOCAL)
    assert refused.value.code == "address_link_local"
    assert "169.254.169.254" in refused.value.message


def test_a_redirect_to_a_name_of_the_metadata_service_is_refused(fake_dns):
    answers, lookups = fake_dns
    answers["metadata.test"] = [["169.254.169.254"]]
    with local_server({"/start": redirect_to("http://metadata.test/computeMetadata/v1/")}) as base:
        with pytest.raises(UrlRefused) as refused:
            fetch_image(f"{base}/start", LOCAL)
    assert refused.value.code == "address_link_local"
    assert lookups == ["metadata.test"]


def test_it_follows_up_to_three_redirects_and_no_more():
    routes = {
        "/r1": redirect_to("/r2"),
        "/r2": redirect_to("/r3"),
        "/r3": redirect_to("/photo.jpg"),
        "/r0": redirect_to("/r1"),
        "/photo.jpg": serve_bytes(JPEG, "image/jpeg"),
    }
    with local_server(routes) as base:
        assert fetch_image(f"{base}/r1", LOCAL) == JPEG
        with pytest.raises(FetchFailed) as failed:
            fetch_image(f"{base}/r0", LOCAL)
    assert failed.value.code == "too_many_redirects"


def test_dns_rebinding_cannot_move_the_connection(fake_dns):
    """The name resolves once; a second answer (the metadata address) is never asked for or used."""
    answers, lookups = fake_dns
    answers["rebind.test"] = [["127.0.0.1"], ["169.254.169.254"]]
    seen_hosts = []

    def photo(request):
        seen_hosts.append(request.headers["Host"])
        serve_bytes(JPEG, "image/jpeg")(request)

    with local_server({"/photo.jpg": photo}) as base:
        port = base.rsplit(":", 1)[1]
        assert fetch_image(f"http://rebind.test:{port}/photo.jpg", LOCAL) == JPEG
    assert lookups == ["rebind.test"]
    assert seen_hosts == [f"rebind.test:{port}"]


def test_https_connections_keep_the_name_for_sni_and_the_certificate(fake_dns):
    answers, _ = fake_dns
    answers["photos.test"] = [["93.184.216.34"]]
    with Deadline(5) as deadline:
        target = check_target("https://photos.test/a.jpg", FetchPolicy(), deadline)
        connection = pinned_connection(target, FetchPolicy(), deadline)
    assert (connection.host, connection.port) == ("93.184.216.34", 443)
    assert connection.server_hostname == "photos.test"
    assert connection.cert_reqs == "CERT_REQUIRED"
    assert target.request.headers["Host"] == "photos.test"


def test_it_stops_reading_past_the_size_limit_whatever_the_headers_say():
    def unannounced(request):
        request.send_response(200)
        request.send_header("Content-Type", "image/jpeg")
        request.end_headers()
        for _ in range(64):  # 4 MB at most, no Content-Length
            request.wfile.write(b"\0" * 65536)

    routes = {
        "/big.jpg": serve_bytes(b"\xff\xd8\xff" + b"\0" * (2 * 1024 * 1024), "image/jpeg"),
        "/stream": unannounced,
    }
    with local_server(routes) as base:
        for path in ("/big.jpg", "/stream"):
            with pytest.raises(FetchFailed) as failed:
                fetch_image(base + path, LOCAL)
            assert failed.value.code == "remote_file_too_large"


def test_it_requires_an_image_content_type_or_image_bytes():
    routes = {
        "/page": serve_bytes(b"<!doctype html><html>hello</html>", "text/html; charset=utf-8"),
        "/octets": serve_bytes(JPEG, "application/octet-stream"),
        "/unlabelled": serve_bytes(JPEG, ""),
    }
    with local_server(routes) as base:
        with pytest.raises(FetchFailed) as failed:
            fetch_image(f"{base}/page", LOCAL)
        assert fetch_image(f"{base}/octets", LOCAL) == JPEG
        assert fetch_image(f"{base}/unlabelled", LOCAL) == JPEG
    assert failed.value.code == "not_an_image"
    assert "text/html" in failed.value.message


def test_http_errors_are_reported_with_their_status():
    with local_server({}) as base:
        with pytest.raises(FetchFailed) as failed:
            fetch_image(f"{base}/missing.jpg", LOCAL)
    assert failed.value.code == "http_error"
    assert "404" in failed.value.message


def test_a_closed_port_fails_cleanly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed) as failed:
        fetch_image(f"http://127.0.0.1:{port}/a.jpg", LOCAL)
    assert failed.value.code == "connect_failed"


# Servers that never stop talking: a bare TCP server answers with whatever bytes a test scripts,
# as slowly as it likes. The deadline must hold whatever part of the answer is slow.

DRIP = 0.2  # seconds between two bytes: each read gets something long before any socket timeout
DEADLINE = 1.0
DRIPPING = FetchPolicy(allow_loopback=True, total_timeout=DEADLINE, max_redirects=10)
Answer = Callable[[socket.socket, str, threading.Event], None]


@contextmanager
def raw_server(answer: Answer, *, read_request: bool = True):
    """Yields http://127.0.0.1:PORT; each connection's request is read (unless not asked to: a TLS
    client speaks first in binary), then ``answer(conn, path, stop)``."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn, suppress(OSError):
            request = b"GET / HTTP/1.1\r\n\r\n" if not read_request else b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            answer(conn, request.split(b" ")[1].decode(), stop)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


def drip(conn: socket.socket, data: bytes, stop: threading.Event) -> None:
    for byte in data:
        if stop.is_set():
            return
        conn.sendall(bytes([byte]))
        time.sleep(DRIP)


def fetch_in_thread(url: str, policy: FetchPolicy) -> threading.Thread:
    thread = threading.Thread(target=_record_outcome, args=(url, policy), daemon=True)
    thread.start()
    return thread


def _record_outcome(url: str, policy: FetchPolicy) -> None:
    thread = threading.current_thread()
    try:
        thread.body = fetch_image(url, policy)
    except (FetchFailed, UrlRefused) as exc:
        thread.error = exc


def outcome_within(url: str, policy: FetchPolicy, limit: float) -> FetchFailed:
    """The error of a fetch that must end by ``limit`` seconds: a hang check, not a speed test."""
    thread = fetch_in_thread(url, policy)
    thread.join(limit)
    assert not thread.is_alive(), f"the fetch was still running after {limit} s"
    assert not hasattr(thread, "body"), "a dripping server's answer was accepted"
    return thread.error


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"


def slow_status_and_headers(conn, path, stop):
    drip(conn, HEAD + b"X-Padding: " + b"a" * 500 + b"\r\n\r\n", stop)


def slow_chunk_size_line(conn, path, stop):
    conn.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n3\r\n\xff\xd8\xff\r\n")
    drip(conn, b"0" * 500 + b"1\r\n", stop)


def slow_body(conn, path, stop):
    conn.sendall(HEAD + b"Content-Length: 500\r\n\r\n\xff\xd8\xff")
    drip(conn, b"\0" * 497, stop)


def slow_redirects(conn, path, stop):
    """Every hop answers a redirect within 0.6 s, in drips: no single hop is slow, the chain is."""
    hop = int(path.rsplit("/", 1)[1])
    drip(conn, b"HTT", stop)
    conn.sendall(f"P/1.1 302 Found\r\nLocation: /hop/{hop + 1}\r\nContent-Length: 0\r\n\r\n".encode())


@pytest.mark.parametrize(
    ("answer", "path"),
    [
        (slow_status_and_headers, "/photo.jpg"),
        (slow_chunk_size_line, "/photo.jpg"),
        (slow_body, "/photo.jpg"),
        (slow_redirects, "/hop/0"),
    ],
    ids=["status line and headers", "chunk-size line", "body", "redirects"],
)
def test_the_total_deadline_holds_whatever_part_of_the_answer_drips(answer, path):
    with raw_server(answer) as base:
        error = outcome_within(base + path, DRIPPING, limit=5 * DEADLINE)
    assert isinstance(error, FetchFailed)
    assert error.code == "fetch_timeout"
    assert "1 seconds" in error.message


def test_the_deadline_covers_a_tls_handshake_that_drips():
    """The server starts a 16 KB TLS record and sends it a byte at a time: no certificate needed."""

    def slow_handshake(conn, path, stop):
        drip(conn, b"\x16\x03\x03\x40\x00" + b"\0" * 500, stop)

    with raw_server(slow_handshake, read_request=False) as base:
        error = outcome_within(base.replace("http://", "https://") + "/photo.jpg", DRIPPING, limit=5 * DEADLINE)
    assert error.code == "fetch_timeout"


def test_the_deadline_covers_a_dns_lookup_that_never_answers(monkeypatch):
    released = threading.Event()

    def stuck(host, port, *args, **kwargs):
        released.wait(30)
        raise socket.gaierror(socket.EAI_AGAIN, "gave up")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    try:
        error = outcome_within("http://stuck.test/photo.jpg", DRIPPING, limit=5 * DEADLINE)
    finally:
        released.set()
    assert error.code == "fetch_timeout"


def test_dripping_fetches_in_flight_do_not_hold_up_an_ordinary_one():
    with raw_server(slow_body) as slow, local_server({"/photo.jpg": serve_bytes(JPEG, "image/jpeg")}) as good:
        patient = FetchPolicy(allow_loopback=True, total_timeout=60)
        dripping = [fetch_in_thread(f"{slow}/photo.jpg", patient) for _ in range(2)]
        assert fetch_image(f"{good}/photo.jpg", LOCAL) == JPEG
        assert all(thread.is_alive() for thread in dripping)
    for thread in dripping:  # the slow server stopped: they end now, without an image
        thread.join(10)
        assert not thread.is_alive()
        assert not hasattr(thread, "body")


@pytest.mark.parametrize(("name", "answer"), list(hostile_http_answers().items()))
def test_malformed_answers_are_a_clean_422(name, answer):
    raw, code = answer

    def reply(conn, path, stop):
        conn.sendall(raw)

    with raw_server(reply) as base:
        with pytest.raises(FetchFailed) as failed:
            fetch_image(f"{base}/photo.jpg", LOCAL)
    assert failed.value.code == code
