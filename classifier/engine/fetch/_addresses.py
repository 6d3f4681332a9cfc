"""Which addresses a fetch may reach: the URL's form, the refused IANA ranges, and one DNS
resolution whose every answer is checked (the connection then goes to the checked address)."""

from __future__ import annotations

import ipaddress
import queue
import re
import socket
import threading
from dataclasses import dataclass

import requests
import urllib3

from classifier.engine.errors import FetchFailed, UrlRefused
from classifier.engine.fetch._limits import Deadline, FetchPolicy

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

USER_AGENT = "sceneweb image fetcher"
MAX_URL_LENGTH = 2048


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
