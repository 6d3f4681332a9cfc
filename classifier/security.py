"""Guards in front of the analysis: per-client rate limit, request-size limit, a log line per
refusal, the Content-Security-Policy, and a deploy check for the test-only URL switch.

The answers themselves are made where every `SceneWebError` becomes JSON (`views.error_response`).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from functools import lru_cache, wraps

from django.conf import settings
from django.core.cache import cache
from django.core.checks import Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

from classifier.engine.errors import SceneWebError

logger = logging.getLogger("sceneweb.security")

RATE_WINDOW_S = 60
PANEL_PATH = "/django_plotly_dash/"


class RateLimited(SceneWebError):
    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int):
        super().__init__(f"Too many analyses from your address; please wait {retry_after} s.")
        self.retry_after = retry_after


class RequestTooLarge(SceneWebError):
    code = "request_too_large"
    status = 413


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """SCENEWEB_TRUSTED_PROXIES as networks; a typo stops the server instead of trusting nobody (or everybody)."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"SCENEWEB_TRUSTED_PROXIES: {entry!r} is not an address or network (write 127.0.0.1 or 10.0.0.0/16)."
            ) from None
    return tuple(networks)


# A typo stops the start (apps.py imports this module), not the first request:
trusted_networks(tuple(settings.SCENEWEB_TRUSTED_PROXIES))


def parsed_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def is_trusted(address, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """Who is asking: the connecting address, unless that is a proxy listed in SCENEWEB_TRUSTED_PROXIES.

    Then X-Forwarded-For is read from the right (each proxy appends the address it saw), past every
    trusted proxy, to the first address no trusted proxy vouches for; what lies further left is
    whatever the client claimed. A header from anyone else is ignored, so a client reaching the
    server directly cannot choose its own address (and its own rate-limit allowance).
    """
    remote = request.META.get("REMOTE_ADDR") or "unknown"
    networks = trusted_networks(tuple(settings.SCENEWEB_TRUSTED_PROXIES))
    if not is_trusted(parsed_address(remote), networks):
        return remote
    client = remote
    for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = parsed_address(entry)
        if address is None:
            break  # not written by a proxy of ours: stop at the last address one vouched for
        client = str(address)
        if not is_trusted(address, networks):
            break
    return client


PLAIN_FIELD = re.compile(r"[A-Za-z0-9_./:@%+~,-]*")


def log_field(value: object) -> str:
    """A visitor-controlled value, safe inside a key=value log line: as is when it holds only plain
    characters, otherwise JSON-quoted, so a newline, a quote, a space or an escape sequence can
    neither start a forged line nor a forged field."""
    text = str(value)
    return text if PLAIN_FIELD.fullmatch(text) else json.dumps(text)


def log_refusal(request: HttpRequest, error: SceneWebError) -> None:
    """One line per refusal, key=value; every field a visitor controls passes through `log_field`."""
    logger.warning(
        "refused code=%s status=%s client=%s method=%s path=%s reason=%s",
        error.code,
        error.status,
        log_field(client_address(request)),
        log_field(request.method),
        log_field(request.path),
        json.dumps(error.message),
    )


def take_rate_slot(client: str, now: float | None = None) -> None:
    """Count one analysis for ``client`` in the current minute; raise `RateLimited` past the limit.

    A fixed one-minute window in Django's cache, which every worker shares (settings.CACHES: Redis,
    or SQLite on disk); `add` and `incr` are atomic there, so concurrent slots are all counted.
    """
    limit = settings.SCENEWEB_RATE_LIMIT
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // RATE_WINDOW_S)
    key = f"sceneweb:rate:{window}:{client}"
    cache.add(key, 0, timeout=2 * RATE_WINDOW_S)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=2 * RATE_WINDOW_S)
        count = 1
    if count > limit:
        raise RateLimited(retry_after=max(1, math.ceil((window + 1) * RATE_WINDOW_S - now)))


def rate_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Analysis views: each call takes a slot of the client's per-minute allowance."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        take_rate_slot(client_address(request))
        return view(request, *args, **kwargs)

    return guarded


class RequestSizeLimit:
    """Answers 413 before Django reads a body larger than any image may come in (declared length).

    Django itself reads no more than the declared length, so an undeclared body is no way around it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.SCENEWEB_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body for a malformed length
        if length > limit:
            from classifier.views import error_response  # the one place errors become answers

            return error_response(
                request,
                RequestTooLarge(
                    f"The request is {length / 2**20:.1f} MB; images may be at most "
                    f"{settings.SCENEWEB_MAX_UPLOAD_MB} MB."
                ),
            )
        return self.get_response(request)


class PanelFramesSameOrigin:
    """The site refuses to be framed (X_FRAME_OPTIONS = "DENY"), except the Dash panel's own pages:
    django-plotly-dash serves them into an iframe of our page, so they say SAMEORIGIN.

    Listed after XFrameOptionsMiddleware, so its header is set first and that one keeps it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(PANEL_PATH):
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response


# The one inline script the page runs: django-plotly-dash's launcher of Dash's renderer (its
# `plotly_direct` tag writes it). The policy allows exactly this text by its hash; a test checks
# that every inline script of the page is allowed, and the browser tests that the page runs.
DASH_RENDERER_LAUNCHER = "var renderer = new DashRenderer();"


def script_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode("ascii") + "'"


def content_security_policy(frame_ancestors: str) -> str:
    """Scripts, styles, fonts and API calls from this site only (the panel loads nothing from elsewhere);
    images also as data: URIs (the photo and its heatmap come back inline). Dash's components write
    a few `<style>` elements and style attributes at run time, hence 'unsafe-inline' for styles
    only: styles cannot run code. No eval, no plugins, no `<base>`, forms post only here."""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {script_hash(DASH_RENDERER_LAUNCHER)}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


class ContentSecurityPolicy:
    """Django 5.2 has no CSP of its own: every answer gets the policy above (framing as X-Frame-Options
    says: nobody, or this site for the panel's own pages)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.page_policy = content_security_policy("'none'")
        self.panel_policy = content_security_policy("'self'")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = self.panel_policy if request.path.startswith(PANEL_PATH) else self.page_policy
        response.headers.setdefault("Content-Security-Policy", policy)
        return response


@register(Tags.security, deploy=True)
def check_private_urls_are_off(app_configs, **kwargs) -> list[Warning]:
    if not settings.SCENEWEB_ALLOW_PRIVATE_URLS:
        return []
    return [
        Warning(
            "SCENEWEB_ALLOW_PRIVATE_URLS is on: visitors' image URLs may reach this server's loopback address.",
            hint="It exists for tests; unset it (or set it to 0) in production.",
            id="sceneweb.W001",
        )
    ]
