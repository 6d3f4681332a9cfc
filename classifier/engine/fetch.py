"""Fetching an image from a URL a visitor gave us, without letting that URL reach inside our network.

The risk is server-side request forgery: a URL (or a redirect, or a DNS answer) that points at
this machine, the private network or the cloud metadata service. So:

- only http and https, no credentials in the URL;
- the host is resolved once and every address it resolves to is checked; odd spellings of
  IPv4 addresses (``2130706433``, ``0177.0.0.1``, ``127.1``) are read as the address they are;
- the connection goes to the checked address itself (no second DNS lookup a rebinding server
  could answer differently), while the Host header, TLS SNI and certificate check use the name;
- redirects are followed by hand, each one checked again, at most ``max_redirects``;
- the refused ranges are the IANA special-purpose registries, listed in `REFUSED_RANGES`;
- one deadline covers the whole fetch (DNS, connect, TLS, headers, body, redirects): a timer
  shuts the connection down when it passes, however slowly the server drips bytes;
- the body is streamed and cut off past the size limit; a malformed Content-Length is refused;
- what comes back must declare an image content type or start with an image signature.

Every refusal is a `UrlRefused` (400) or `FetchFailed` (422) with its own ``code``.
"""

from __future__ import annotations

import http.client
import ipaddress
import queue
import re
import socket
import ssl
import threading
import time
from contextlib import closing, suppress
from dataclasses import dataclass
from urllib.parse import urljoin

import requests
import requests.certs
import urllib3
import urllib3.connection
from urllib3.util.ssl_match_hostname import CertificateError

from classifier.engine.errors import FetchFailed, UrlRefused
from classifier.engine.imaging import ACCEPTED_TEXT, sniff_image_format

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
READ_CHUNK = 64 * 1024
USER_AGENT = "sceneweb image fetcher"
MAX_URL_LENGTH = 2048
DIGITS = re.compile(r"[0-9]+")
MAX_LENGTH_DIGITS = 15  # a petabyte; longer values are "too large" without int() of a huge string


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 10 * 1024 * 1024
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    """The whole fetch: DNS, connect, TLS, headers, body and every redirect (see `Deadline`)."""
    max_redirects: int = 3
    allow_loopback: bool = False
    """Test-only (SCENEWEB_ALLOW_PRIVATE_URLS): lets tests serve images from 127.0.0.1.
    Private networks, link-local (metadata) and the rest stay refused even then."""


@dataclass(frozen=True)
class Refused:
    """One special-purpose range we never fetch from: its code (``address_<kind>``) and why, in words."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    kind: str
    words: str


def _ranges(kind: str, words: str, *networks: str) -> tuple[Refused, ...]:
    return tuple(Refused(ipaddress.ip_network(network), kind, words) for network in networks)


# The IANA IPv4 and IPv6 Special-Purpose Address Registries (plus multicast), listed here rather
# than read from ipaddress's is_private/is_global flags, whose answers changed between Python
# patch releases (192.0.0.0/24 was "global" on 3.11.7). Ranges the registries mark globally
# reachable (AS112, AMT, the anycast relays) are refused too: no image is served from them.
# Checked in order, so the more specific reason comes first.
REFUSED_RANGES: tuple[Refused, ...] = (
    *_ranges("unspecified", "an unspecified address (0.0.0.0 or ::)", "0.0.0.0/32", "::/128"),
    *_ranges("unspecified", "the 'this network' range 0.0.0.0/8, which reaches this server", "0.0.0.0/8"),
    *_ranges("loopback", "this server itself (a loopback address)", "127.0.0.0/8", "::1/128"),
    *_ranges(
        "link_local",
        "a link-local address, such as the cloud metadata service 169.254.169.254",
        "169.254.0.0/16",
        "fe80::/10",
    ),
    *_ranges("multicast", "a multicast address", "224.0.0.0/4", "ff00::/8"),
    *_ranges(
        "private",
        "a private network",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "fc00::/7",  # unique local
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation
    ),
    *_ranges("reserved", "the limited broadcast address", "255.255.255.255/32"),
    *_ranges(
        "reserved",
        "a reserved address range",
        "240.0.0.0/4",
        "100::/64",  # discard-only
        "100:0:0:1::/64",  # dummy prefix
        "5f00::/16",  # segment-routing SIDs
    ),
    *_ranges(
        "not_public",
        "a special-purpose range (protocol assignments, documentation, benchmarking, relays), not a public host",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.31.196.0/24",
        "192.52.193.0/24",
        "192.88.99.0/24",
        "192.175.48.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "2001::/23",  # IETF protocol assignments, Teredo included
        "2001:db8::/32",
        "2620:4f:8000::/48",  # AS112
        "3fff::/20",
    ),
)

# IPv6 forms that carry an IPv4 address and lead to it: IPv4-mapped, NAT64, 6to4.
IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
# All IPv6 unicast on the internet is allocated from 2000::/3; the rest of the space is reserved.
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")

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
    """The IPv4 address an IPv6 one carries and leads to (``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``), by bit arithmetic alone."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address in IPV4_MAPPED or address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in SIX_TO_FOUR:
        return ipaddress.IPv4Address(int(address) >> 80 & 0xFFFFFFFF)
    return None


def check_address(address: Address, *, allow_loopback: bool = False) -> None:
    """Raise `UrlRefused` unless the address is a public unicast address (and so is any IPv4 it carries)."""
    inner = embedded_ipv4(address)
    if inner is not None:
        check_address(inner, allow_loopback=allow_loopback)
        return
    refused = next((r for r in REFUSED_RANGES if address in r.network), None)
    if refused is not None:
        if refused.kind == "loopback" and allow_loopback:
            return
        raise UrlRefused(f"We do not fetch from {refused.words} ({address}).", code=f"address_{refused.kind}")
    if isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST_V6:
        raise UrlRefused(
            f"We do not fetch from {address}: it is in a reserved IPv6 range, not a public address.",
            code="address_reserved",
        )


class Deadline:
    """The one clock of a whole fetch: DNS, connect, TLS, headers, body and every redirect.

    Socket timeouts bound each wait, not their sum: a server sending one byte every half
    second never trips them, whether in the status line, a header, a chunk-size line or the
    body, and http.client reads lines of up to 64 KB. So a timer shuts down every connection
    of the fetch when the time is up: the read blocked then sees end-of-file at once, and
    `fetch_image` reports `fetch_timeout` (checking `expired`, since an end-of-file cut at the
    deadline could otherwise pass for the end of the answer).
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._watched:
                sock.close()
            self._watched.clear()

    def error(self) -> FetchFailed:
        return FetchFailed(
            f"The image did not arrive within {self.seconds:g} seconds; try a faster server or upload the file.",
            code="fetch_timeout",
        )

    @property
    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.ends

    def remaining(self) -> float:
        """Seconds left; raises `fetch_timeout` when none are."""
        if self.passed:
            raise self.error()
        return max(self.ends - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline. A duplicate descriptor is kept, so a socket closed
        meanwhile (and its number reused by another request) is never touched, and TLS wrapping,
        which detaches the original socket object, does not escape the shutdown."""
        with self._lock:
            if self.expired:  # connected just too late: the next read fails, as `fetch_timeout`
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return
            self._watched.append(sock.dup())

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._watched:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def resolve(host: str, port: int, deadline: Deadline) -> list[Address]:
    """Every address the host name resolves to (one DNS lookup), or the address it spells.

    `getaddrinfo` cannot be interrupted, so it runs on a daemon thread and we stop waiting at
    the deadline; the lookup ends on its own when the resolver gives up.
    """
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    answer: queue.SimpleQueue = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answer.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:  # handed to the caller, which knows what it means
            answer.put(exc)

    threading.Thread(target=lookup, name="sceneweb-dns", daemon=True).start()
    try:
        answers = answer.get(timeout=deadline.remaining())
    except queue.Empty:
        raise deadline.error() from None
    if isinstance(answers, OSError | UnicodeError):
        raise FetchFailed(f"The host name {host!r} could not be resolved.", code="dns_failed")
    if isinstance(answers, Exception):
        raise answers
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

    @property
    def url(self) -> urllib3.util.Url:
        return urllib3.util.parse_url(self.request.url)


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


def check_target(url: str, policy: FetchPolicy, deadline: Deadline) -> Target:
    """Validate the URL, resolve its host once, check every address; the first one is where we connect.

    An IPv4-mapped address is connected to as the IPv4 address it is; NAT64 and 6to4 addresses
    as themselves (their gateway leads to the IPv4 address that was checked).
    """
    request = prepare(url)
    parsed = urllib3.util.parse_url(request.url)
    hostname = parsed.host.strip("[]")
    addresses = resolve(hostname, parsed.port or (443 if parsed.scheme == "https" else 80), deadline)
    for address in addresses:
        check_address(address, allow_loopback=policy.allow_loopback)
    request.headers["Host"] = parsed.netloc
    first = addresses[0]
    mapped = first.ipv4_mapped if isinstance(first, ipaddress.IPv6Address) else None
    return Target(request, hostname, mapped or first)


class _WatchedConnection:
    """Registers the socket with the fetch's `Deadline` as soon as it is connected, before TLS."""

    deadline: Deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class WatchedHTTPConnection(_WatchedConnection, urllib3.connection.HTTPConnection):
    pass


class WatchedHTTPSConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


def pinned_connection(target: Target, policy: FetchPolicy, deadline: Deadline) -> urllib3.connection.HTTPConnection:
    """A connection to the checked address itself, whatever DNS would say now.

    The Host header (set by `check_target`), TLS SNI and the certificate's host-name check all
    use the name; only the socket goes to ``target.address``. No environment proxy is used.
    """
    url = target.url
    timeout = min(policy.connect_timeout, deadline.remaining())
    if url.scheme == "https":
        connection = WatchedHTTPSConnection(
            str(target.address),
            url.port or 443,
            timeout=timeout,
            server_hostname=target.hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=requests.certs.where(),
        )
    else:
        connection = WatchedHTTPConnection(str(target.address), url.port or 80, timeout=timeout)
    connection.deadline = deadline
    return connection


def send(connection: urllib3.connection.HTTPConnection, target: Target, deadline: Deadline) -> urllib3.BaseHTTPResponse:
    """Connect, send the GET and read the status line and headers, all within the deadline."""
    try:
        connection.connect()
    except (ssl.SSLError, urllib3.exceptions.SSLError, CertificateError) as exc:
        raise _unless_cut_short(exc, deadline, _tls_failed(target)) from None
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of ConnectTimeoutError, oddly
        failure = FetchFailed(f"Could not connect to {target.hostname}.", code="connect_failed")
        raise _unless_cut_short(exc.__cause__ or exc, deadline, failure) from None
    except urllib3.exceptions.ConnectTimeoutError:
        raise FetchFailed(f"{target.hostname} did not accept a connection in time.", code="fetch_timeout") from None
    except OSError as exc:
        failure = FetchFailed(f"Could not connect to {target.hostname}.", code="connect_failed")
        raise _unless_cut_short(exc, deadline, failure) from None
    try:
        connection.timeout = deadline.remaining()
        connection.request(
            "GET", target.request.path_url, headers=target.request.headers, preload_content=False, decode_content=False
        )
        response = connection.getresponse()
    except urllib3.exceptions.InvalidHeader as exc:  # urllib3's own Content-Length check ("1, 2")
        raise _unless_cut_short(exc, deadline, _bad_content_length(target)) from None
    except (http.client.HTTPException, urllib3.exceptions.HTTPError, OSError) as exc:
        failure = FetchFailed(f"{target.hostname} did not send a valid HTTP answer.", code="bad_response")
        raise _unless_cut_short(exc, deadline, failure) from None
    deadline.remaining()  # headers cut short at the deadline can look complete
    return response


def _unless_cut_short(exc: BaseException, deadline: Deadline, failure: FetchFailed) -> FetchFailed:
    """``failure``, or `fetch_timeout` when the deadline (a socket timeout or the shutdown) caused ``exc``."""
    timed_out = isinstance(exc, TimeoutError | urllib3.exceptions.TimeoutError)
    return deadline.error() if timed_out or deadline.passed else failure


def _tls_failed(target: Target) -> FetchFailed:
    return FetchFailed(
        f"The secure connection to {target.hostname} failed (certificate not valid for it?).", code="tls_failed"
    )


def _bad_content_length(target: Target) -> FetchFailed:
    return FetchFailed(
        f"{target.hostname} sent an invalid Content-Length header; the image cannot be read from there.",
        code="bad_content_length",
    )


def redirect_location(response: urllib3.BaseHTTPResponse, url: str) -> str | None:
    """The next URL for a redirect, None for a final answer; other answers are refused here."""
    if response.status in REDIRECT_STATUSES:
        location = response.headers.get("Location")
        if not location:
            raise FetchFailed("The server redirected without saying where to.", code="bad_redirect")
        return urljoin(url, location)
    if not 200 <= response.status < 300:
        raise FetchFailed(
            f"The server answered {response.status} {response.reason or ''}".strip() + ".", code="http_error"
        )
    return None


def declared_length(response: urllib3.BaseHTTPResponse, target: Target) -> int | None:
    """The Content-Length, which must be digits only (RFC 9110): ``abc``, ``-1``, ``1, 2`` are refused."""
    value = response.headers.get("Content-Length")
    if value is None:
        return None
    value = value.strip()
    if not DIGITS.fullmatch(value):
        raise _bad_content_length(target)
    return int(value) if len(value) <= MAX_LENGTH_DIGITS else 10**MAX_LENGTH_DIGITS


def read_body(response: urllib3.BaseHTTPResponse, target: Target, policy: FetchPolicy, deadline: Deadline) -> bytes:
    """Stream the body, stopping past the size limit or the deadline, whatever the headers claim."""
    too_large = FetchFailed(
        f"The image at that address is larger than {policy.max_bytes / 2**20:.0f} MB.", code="remote_file_too_large"
    )
    if (declared_length(response, target) or 0) > policy.max_bytes:
        raise too_large
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        raise FetchFailed("The server sent a compressed answer we did not ask for.", code="bad_content_encoding")
    body = bytearray()
    try:
        for chunk in response.stream(READ_CHUNK, decode_content=False):
            body += chunk
            if len(body) > policy.max_bytes:
                raise too_large
    except (http.client.HTTPException, urllib3.exceptions.HTTPError, OSError) as exc:
        failure = FetchFailed(
            f"The download from {target.hostname} broke off before the end; try again or upload the file.",
            code="bad_response",
        )
        raise _unless_cut_short(exc, deadline, failure) from None
    deadline.remaining()  # a body cut at the deadline ends like one that is complete
    return bytes(body)


def require_image(response: urllib3.BaseHTTPResponse, body: bytes) -> None:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type.startswith("image/") or sniff_image_format(body) is not None:
        return
    raise FetchFailed(
        f"The address returned {content_type or 'an unlabelled file'}, not an image ({ACCEPTED_TEXT}).",
        code="not_an_image",
    )


def fetch_image(url: str, policy: FetchPolicy) -> bytes:
    """The bytes of the image at ``url``, fetched under ``policy``; raises UrlRefused or FetchFailed.

    Safe to call from many threads at once; each call holds at most one connection at a time
    and returns (or raises `fetch_timeout`) by ``policy.total_timeout``, whatever the servers do.
    """
    with Deadline(policy.total_timeout) as deadline:
        for _hop in range(policy.max_redirects + 1):
            target = check_target(url, policy, deadline)
            with closing(pinned_connection(target, policy, deadline)) as connection:
                response = send(connection, target, deadline)
                next_url = redirect_location(response, target.request.url)
                if next_url is None:
                    body = read_body(response, target, policy, deadline)
                    require_image(response, body)
                    return body
            url = next_url
    raise FetchFailed(f"The address redirected more than {policy.max_redirects} times.", code="too_many_redirects")
