"""Fetching an image from a URL a visitor gave us, without letting that URL reach inside our network.

The risk is server-side request forgery: a URL (or a redirect, or a DNS answer) that points at
this machine, the private network or the cloud metadata service. So:

- only http and https, no credentials in the URL;
- the host is resolved once and every address it resolves to is checked; odd spellings of
  IPv4 addresses (``2130706433``, ``0177.0.0.1``, ``127.1``) are read as the address they are;
- the connection goes to the checked address itself (no second DNS lookup a rebinding server
  could answer differently), while the Host header, TLS SNI and certificate check use the name;
- redirects are followed by hand, each one checked again, at most ``max_redirects``;
- the body is streamed and cut off past the size limit and the total time;
- what comes back must declare an image content type or start with an image signature.

Every refusal is a `UrlRefused` (400) or `FetchFailed` (422) with its own ``code``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from contextlib import closing
from dataclasses import dataclass
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter

from classifier.engine.errors import FetchFailed, UrlRefused
from classifier.engine.imaging import ACCEPTED_TEXT, sniff_image_format

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
READ_CHUNK = 64 * 1024
USER_AGENT = "sceneweb image fetcher"
MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 10 * 1024 * 1024
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    """Whole fetch, redirects included; checked before every read of the body."""
    max_redirects: int = 3
    allow_loopback: bool = False
    """Test-only (SCENEWEB_ALLOW_PRIVATE_URLS): lets tests serve images from 127.0.0.1.
    Private networks, link-local (metadata) and the rest stay refused even then."""


# The most specific reason first: 127.0.0.1 is also "private" to the ipaddress module.
ADDRESS_CLASSES = (
    ("unspecified", "is_unspecified", "an unspecified address (0.0.0.0 or ::)"),
    ("loopback", "is_loopback", "this server itself (a loopback address)"),
    ("link_local", "is_link_local", "a link-local address, such as the cloud metadata service 169.254.169.254"),
    ("multicast", "is_multicast", "a multicast address"),
    ("private", "is_private", "a private network"),
    ("reserved", "is_reserved", "a reserved address range"),
)

_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def literal_address(host: str) -> Address | None:
    """The address a host string spells directly, read as the C resolver reads it, or None for a name.

    Besides the usual forms this accepts what `inet_aton` does: 1 to 4 parts, each decimal,
    octal (leading 0) or hex (0x), the last one filling the remaining bytes: ``2130706433``,
    ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` are all 127.0.0.1.
    """
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(part) for part in parts):
        return None
    *leading, last = [_ipv4_part_value(part) for part in parts]
    if any(v > 255 for v in leading) or last >= 256 ** (5 - len(parts)):
        return None
    number = 0
    for value in leading:
        number = number << 8 | value
    return ipaddress.IPv4Address(number << 8 * (5 - len(parts)) | last)


def _ipv4_part_value(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    return int(part, 8) if part.startswith("0") else int(part)


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and routes to (::ffff:a.b.c.d, 6to4 2002:AABB:CCDD::)."""
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address.sixtofour
    return None


def check_address(address: Address, *, allow_loopback: bool = False) -> None:
    """Raise `UrlRefused` unless the address is a public, globally routable unicast address."""
    inner = embedded_ipv4(address)
    if inner is not None:
        check_address(inner, allow_loopback=allow_loopback)
        return
    for kind, attribute, words in ADDRESS_CLASSES:
        if getattr(address, attribute):
            if kind == "loopback" and allow_loopback:
                return
            raise UrlRefused(f"We do not fetch from {words} ({address}).", code=f"address_{kind}")
    if not address.is_global:
        raise UrlRefused(f"We do not fetch from {address}: it is not a public address.", code="address_not_public")


def resolve(host: str, port: int) -> list[Address]:
    """Every address the host name resolves to (one DNS lookup), or the address it spells."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchFailed(f"The host name {host!r} could not be resolved.", code="dns_failed") from None
    addresses = []
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchFailed(f"The host name {host!r} has no address.", code="dns_failed")
    return addresses


@dataclass(frozen=True)
class Target:
    """One checked hop: the request to send and the address it must be sent to."""

    request: requests.PreparedRequest
    hostname: str
    address: Address


def prepare(url: str) -> requests.PreparedRequest:
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"That address is longer than {MAX_URL_LENGTH} characters.", code="url_too_long")
    try:
        request = requests.Request(
            "GET", url, headers={"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"}
        ).prepare()
    except (requests.exceptions.RequestException, ValueError, UnicodeError):
        raise UrlRefused(
            "That is not a valid web address (it should start with https://).", code="url_invalid"
        ) from None
    parsed = urllib3.util.parse_url(request.url)
    if parsed.scheme not in ("http", "https"):
        raise UrlRefused("Only http and https addresses can be fetched.", code="url_scheme")
    if parsed.auth:
        raise UrlRefused("Addresses with a user name or password are not fetched.", code="url_credentials")
    if not parsed.host:
        raise UrlRefused("That web address has no host name.", code="url_invalid")
    return request


def check_target(url: str, policy: FetchPolicy) -> Target:
    """Validate the URL, resolve its host once, check every address; the first one is where we connect."""
    request = prepare(url)
    parsed = urllib3.util.parse_url(request.url)
    hostname = parsed.host.strip("[]")
    addresses = resolve(hostname, parsed.port or (443 if parsed.scheme == "https" else 80))
    for address in addresses:
        check_address(address, allow_loopback=policy.allow_loopback)
    request.headers["Host"] = parsed.netloc
    return Target(request, hostname, embedded_ipv4(addresses[0]) or addresses[0])


class PinnedAdapter(HTTPAdapter):
    """Connects to one already-checked address, whatever DNS would say now.

    The URL keeps the host name, so the Host header (set by `check_target`), TLS SNI and the
    certificate's host-name check all use the name; only the socket goes to ``address``.
    """

    def __init__(self, target: Target):
        self.target = target
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = str(self.target.address)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = self.target.hostname
        return host_params, pool_kwargs


def send_pinned(adapter: PinnedAdapter, policy: FetchPolicy, deadline: float) -> requests.Response:
    target = adapter.target
    remaining = max(deadline - time.monotonic(), 0.001)
    try:
        return adapter.send(
            target.request, stream=True, timeout=(min(policy.connect_timeout, remaining), remaining), proxies={}
        )
    except requests.exceptions.Timeout:
        raise FetchFailed(f"{target.hostname} did not answer in time.", code="fetch_timeout") from None
    except requests.exceptions.SSLError:
        raise FetchFailed(
            f"The secure connection to {target.hostname} failed (certificate not valid for it?).", code="tls_failed"
        ) from None
    except requests.exceptions.RequestException:
        raise FetchFailed(f"Could not connect to {target.hostname}.", code="connect_failed") from None


def redirect_location(response: requests.Response) -> str | None:
    """The next URL for a redirect, None for a final answer; other answers are refused here."""
    if response.status_code in REDIRECT_STATUSES:
        location = response.headers.get("Location")
        if not location:
            raise FetchFailed("The server redirected without saying where to.", code="bad_redirect")
        return urljoin(response.request.url, location)
    if not 200 <= response.status_code < 300:
        raise FetchFailed(
            f"The server answered {response.status_code} {response.reason or ''}".strip() + ".", code="http_error"
        )
    return None


def read_body(response: requests.Response, policy: FetchPolicy, deadline: float) -> bytes:
    """Stream the body, stopping past the size limit or the deadline, whatever the headers claim."""
    too_large = FetchFailed(
        f"The image at that address is larger than {policy.max_bytes / 2**20:.0f} MB.", code="remote_file_too_large"
    )
    if int(response.headers.get("Content-Length") or 0) > policy.max_bytes:
        raise too_large
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        raise FetchFailed("The server sent a compressed answer we did not ask for.", code="bad_content_encoding")
    body = bytearray()
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchFailed("The image took too long to download.", code="fetch_timeout")
            _limit_next_read(response, remaining)
            chunk = response.raw.read1(READ_CHUNK, decode_content=False)
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > policy.max_bytes:
                raise too_large
    except (urllib3.exceptions.HTTPError, OSError):
        raise FetchFailed("The download was interrupted or too slow.", code="fetch_timeout") from None


def _limit_next_read(response: requests.Response, seconds: float) -> None:
    """A slow server dripping bytes must not outlive the total timeout: each read waits at most what is left."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def require_image(response: requests.Response, body: bytes) -> None:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type.startswith("image/") or sniff_image_format(body) is not None:
        return
    raise FetchFailed(
        f"The address returned {content_type or 'an unlabelled file'}, not an image ({ACCEPTED_TEXT}).",
        code="not_an_image",
    )


def fetch_image(url: str, policy: FetchPolicy) -> bytes:
    """The bytes of the image at ``url``, fetched under ``policy``; raises UrlRefused or FetchFailed."""
    deadline = time.monotonic() + policy.total_timeout
    for _hop in range(policy.max_redirects + 1):
        target = check_target(url, policy)
        with closing(PinnedAdapter(target)) as adapter, send_pinned(adapter, policy, deadline) as response:
            next_url = redirect_location(response)
            if next_url is None:
                body = read_body(response, policy, deadline)
                require_image(response, body)
                return body
        url = next_url
    raise FetchFailed(f"The address redirected more than {policy.max_redirects} times.", code="too_many_redirects")
