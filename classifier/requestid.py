"""Each request's id: an incoming X-Request-ID from a trusted proxy (SCENEWEB_TRUSTED_PROXIES), else a
new one. It is answered in the X-Request-ID header and in every error body, and every log line
written while the request runs carries it (a contextvar, read by a logging filter), so one id
finds a client's complaint, the proxy's line and ours."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from classifier.clients import is_trusted, parsed_address, trusted_networks

HEADER = "X-Request-ID"
WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # a proxy's id goes into logs and headers: nothing else
NO_REQUEST = "-"

current_id: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)


def request_id() -> str:
    """The id of the request this thread is serving ("-" outside one)."""
    return current_id.get()


def incoming_id(request: HttpRequest) -> str | None:
    """The proxy's id, when the connection comes from a trusted proxy and the id is well formed."""
    claimed = request.META.get("HTTP_X_REQUEST_ID", "")
    networks = trusted_networks(tuple(settings.SCENEWEB_TRUSTED_PROXIES))
    if (
        claimed
        and WELL_FORMED.fullmatch(claimed)
        and is_trusted(parsed_address(request.META.get("REMOTE_ADDR", "")), networks)
    ):
        return claimed
    return None


class RequestId:
    """First in the middleware: every later answer and log line knows the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_id.set(incoming_id(request) or uuid.uuid4().hex)
        try:
            response = self.get_response(request)
            response[HEADER] = request_id()
            return response
        finally:
            current_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` attribute, for the formatters of settings.LOGGING."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
        return True
