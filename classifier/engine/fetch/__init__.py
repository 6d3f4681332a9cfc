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

The work lives in private modules, one per concept: `_limits` (the policy and the deadline),
`_addresses` (URL form, refused ranges, DNS resolution, the checked target) and `_transport`
(the pinned connection, the request, redirects and the body). Import from this package.
"""

from __future__ import annotations

from contextlib import closing

from classifier.engine.errors import FetchFailed
from classifier.engine.fetch._addresses import check_address, check_target, literal_address
from classifier.engine.fetch._limits import Deadline, FetchPolicy
from classifier.engine.fetch._transport import pinned_connection, read_body, redirect_location, require_image, send

__all__ = [
    "Deadline",
    "FetchPolicy",
    "check_address",
    "check_target",
    "fetch_image",
    "literal_address",
    "pinned_connection",
]


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
