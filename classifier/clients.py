"""Who is asking: the client's address, read through the proxies listed in SCENEWEB_TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """SCENEWEB_TRUSTED_PROXIES as networks; a typo stops the server instead of trusting nobody (or everybody).

    `ClassifierConfig.ready` reads them once, so a typo stops the start, not the first request."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"SCENEWEB_TRUSTED_PROXIES: {entry!r} is not an address or network (write 127.0.0.1 or 10.0.0.0/16)."
            ) from None
    return tuple(networks)


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


def rate_group(client: str) -> str:
    """Whose allowance a client uses: its IPv4 address, or its IPv6 /64. One subscriber gets a whole
    /64 (2**64 addresses), so counting each IPv6 address alone would be no limit at all."""
    address = parsed_address(client)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return client
