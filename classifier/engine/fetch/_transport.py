"""Talking HTTP to a checked address within the deadline: the pinned connection, the request,
redirects, and a body read no further than the size limit."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from urllib.parse import urljoin

import requests.certs
import urllib3
import urllib3.connection
from urllib3.util.ssl_match_hostname import CertificateError

from classifier.engine.errors import FetchFailed
from classifier.engine.fetch._addresses import Target
from classifier.engine.fetch._limits import Deadline, FetchPolicy
from classifier.engine.image_checks import ACCEPTED_TEXT, sniff_image_format

REDIRECT_STATUSES = {301, 302, 303, 307, 308}
READ_CHUNK = 64 * 1024
DIGITS = re.compile(r"[0-9]+")
MAX_LENGTH_DIGITS = 15  # a petabyte; longer values are "too large" without int() of a huge string


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
