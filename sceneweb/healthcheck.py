"""`python -m sceneweb.healthcheck`: exit status 0 when the server on this machine answers
`/api/health` with status ok, 1 (and the reason) otherwise. The Docker HEALTHCHECK runs it.

It asks the way the TLS proxy in front would: with an allowed host name (Django refuses a Host
header it does not know, and production allows only the public name) and
`X-Forwarded-Proto: https` (so that, with DJANGO_SECURE_SSL_REDIRECT on, the answer is the
health and not a redirect). Standard library only: it must start fast and alone.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping


def health_request(environ: Mapping[str, str] = os.environ) -> urllib.request.Request:
    port = environ.get("SCENEWEB_BIND", "127.0.0.1:8000").rsplit(":", 1)[1]
    hosts = [h.strip() for h in environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    return urllib.request.Request(
        f"http://127.0.0.1:{port}/api/health", headers={"Host": host, "X-Forwarded-Proto": "https"}
    )


def main() -> int:
    request = health_request()
    try:
        with urllib.request.urlopen(request, timeout=4) as answer:
            status = json.load(answer).get("status")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {request.full_url} (Host {request.get_header('Host')}): {exc}", file=sys.stderr)
        return 1
    if status != "ok":
        print(f"unhealthy: {request.full_url} answered status {status!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
