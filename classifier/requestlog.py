"""Log lines about visitors' requests: key=value, with every field a visitor controls made safe."""

from __future__ import annotations

import json
import logging
import re

from django.http import HttpRequest

from classifier.clients import client_address
from classifier.engine.errors import SceneWebError

logger = logging.getLogger("sceneweb.security")

PLAIN_FIELD = re.compile(r"[A-Za-z0-9_./:@%+~,-]*")


def log_field(value: object) -> str:
    """A visitor-controlled value, safe inside a key=value log line: as is when it holds only plain
    characters, otherwise JSON-quoted, so a newline, a quote, a space or an escape sequence can
    neither start a forged line nor a forged field."""
    text = str(value)
    return text if PLAIN_FIELD.fullmatch(text) else json.dumps(text)


def log_refusal(request: HttpRequest, error: SceneWebError, status: int) -> None:
    """One line per refusal; every field a visitor controls passes through `log_field`."""
    logger.warning(
        "refused code=%s status=%s client=%s method=%s path=%s reason=%s",
        error.code,
        status,
        log_field(client_address(request)),
        log_field(request.method),
        log_field(request.path),
        json.dumps(error.message),
    )
