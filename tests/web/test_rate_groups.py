"""Whose allowance a request uses: an IPv4 address alone, an IPv6 client by its /64 (one subscriber's
prefix), so hopping between the 2**64 addresses of one line buys no extra analyses."""

from __future__ import annotations

import pytest

from classifier.clients import rate_group
from classifier.ratelimit import RateLimited, take_rate_slot


@pytest.mark.parametrize(
    ("client", "group"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_clients_are_grouped_by_their_64_and_ipv4_clients_stand_alone(client, group):
    assert rate_group(client) == group


def test_addresses_of_one_ipv6_64_share_one_allowance(settings, private_cache):
    settings.SCENEWEB_RATE_LIMIT = 3
    for host in range(3):
        take_rate_slot(f"2001:db8:77:1::{host + 1}", now=7_000_000.0)
    with pytest.raises(RateLimited):
        take_rate_slot("2001:db8:77:1:dead:beef:0:1", now=7_000_000.0)
    take_rate_slot("2001:db8:77:2::1", now=7_000_000.0)  # the next /64 is another subscriber
