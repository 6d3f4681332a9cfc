"""The URL fetcher: address policy (a pure table), then real fetches from a server on 127.0.0.1.

DNS is simulated by replacing `socket.getaddrinfo` for made-up names (*.test); numeric hosts
never reach it. The loopback server is only reachable with the test-only `allow_loopback`.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from contextlib import closing

import pytest
from PIL import Image

from classifier.engine.errors import FetchFailed, UrlRefused
from classifier.engine.fetch import (
    FetchPolicy,
    PinnedAdapter,
    check_address,
    check_target,
    fetch_image,
    literal_address,
)
from tests.conftest import image_bytes
from tests.httpserver import local_server, serve_bytes

LOCAL = FetchPolicy(allow_loopback=True, max_bytes=1024 * 1024, connect_timeout=2, total_timeout=5)
JPEG = image_bytes(Image.new("RGB", (32, 24), (10, 120, 200)))


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("127.0.0.1", "address_loopback"),
        ("127.255.255.254", "address_loopback"),
        ("::1", "address_loopback"),
        ("::ffff:127.0.0.1", "address_loopback"),
        ("2002:7f00:1::", "address_loopback"),  # 6to4 wrapping 127.0.0.1
        ("10.1.2.3", "address_private"),
        ("172.16.0.1", "address_private"),
        ("192.168.1.1", "address_private"),
        ("fc00::1", "address_private"),
        ("fd12:3456::1", "address_private"),
        ("2001:db8::1", "address_private"),
        ("169.254.169.254", "address_link_local"),
        ("::ffff:169.254.169.254", "address_link_local"),
        ("fe80::1", "address_link_local"),
        ("224.0.0.1", "address_multicast"),
        ("ff02::1", "address_multicast"),
        ("240.0.0.1", "address_private"),
        ("::7f00:1", "address_reserved"),  # IPv4-compatible form of 127.0.0.1
        ("0.0.0.0", "address_unspecified"),
        ("::", "address_unspecified"),
        ("100.64.0.1", "address_not_public"),  # carrier-grade NAT
    ],
)
def test_it_refuses_every_non_public_address(address, code):
    with pytest.raises(UrlRefused) as refused:
        check_address(ipaddress.ip_address(address))
    assert refused.value.code == code
    assert refused.value.status == 400


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_it_accepts_public_addresses(address):
    check_address(ipaddress.ip_address(address))


def test_allowing_loopback_opens_nothing_else():
    check_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    check_address(ipaddress.ip_address("::1"), allow_loopback=True)
    for address in ("169.254.169.254", "10.0.0.1", "0.0.0.0"):
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
    assert failed.value.status == 422


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
    target = check_target("https://photos.test/a.jpg", FetchPolicy())
    with closing(PinnedAdapter(target)) as adapter:
        host_params, pool_kwargs = adapter.build_connection_pool_key_attributes(target.request, True)
    assert (host_params["scheme"], host_params["host"]) == ("https", "93.184.216.34")
    assert pool_kwargs["server_hostname"] == "photos.test"
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


def test_a_server_that_drips_bytes_runs_into_the_total_timeout():
    def drip(request):
        request.send_response(200)
        request.send_header("Content-Type", "image/jpeg")
        request.end_headers()
        for _ in range(30):  # at most 3 s
            request.wfile.write(b"\xff")
            request.wfile.flush()
            time.sleep(0.1)

    with local_server({"/slow.jpg": drip}) as base:
        with pytest.raises(FetchFailed) as failed:
            fetch_image(f"{base}/slow.jpg", FetchPolicy(allow_loopback=True, total_timeout=0.5))
    assert failed.value.code == "fetch_timeout"


def test_a_closed_port_fails_cleanly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchFailed) as failed:
        fetch_image(f"http://127.0.0.1:{port}/a.jpg", LOCAL)
    assert failed.value.code == "connect_failed"
