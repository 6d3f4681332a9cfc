"""API keys: when configured, /api/analyze needs a valid Bearer key, each key with its own rate limit;
only hashes are stored, keys are never logged; without the setting the API stays open."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from classifier import apikeys
from tests.support.api import assert_refused

PARTNER_KEY = "sw_partner-key-for-tests"
OTHER_KEY = "sw_other-key-for-tests"


def upload(data: bytes) -> io.BytesIO:
    photo = io.BytesIO(data)
    photo.name = "photo.jpg"
    return photo


def analyze(client, photo_bytes, key: str | None = None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.post("/api/analyze?outputs=scenes", {"image": upload(photo_bytes)}, **headers)


@pytest.fixture
def keyed(service, settings):
    settings.SCENEWEB_API_KEYS = [
        f"partner:{apikeys.key_hash(PARTNER_KEY)}",
        f"other:{apikeys.key_hash(OTHER_KEY)}",
    ]
    return settings


def test_without_keys_configured_the_api_stays_open(client, service, photo_bytes):
    assert analyze(client, photo_bytes).status_code == 200


def test_with_keys_a_call_without_one_is_401_json(client, keyed, photo_bytes):
    assert_refused(analyze(client, photo_bytes), 401, "api_key_required")


def test_with_keys_a_wrong_key_is_401_json(client, keyed, photo_bytes):
    assert_refused(analyze(client, photo_bytes, "sw_guessed"), 401, "api_key_invalid")


def test_a_valid_key_is_served(client, keyed, photo_bytes):
    assert analyze(client, photo_bytes, PARTNER_KEY).status_code == 200


def test_each_key_has_its_own_rate_limit(client, keyed, photo_bytes, frozen_minute):
    keyed.SCENEWEB_RATE_LIMIT = 1
    cache.clear()
    assert analyze(client, photo_bytes, PARTNER_KEY).status_code == 200
    assert_refused(analyze(client, photo_bytes, PARTNER_KEY), 429, "rate_limited")
    assert analyze(client, photo_bytes, OTHER_KEY).status_code == 200  # same address, another key


@pytest.mark.django_db  # django-plotly-dash records its app in the database
def test_the_page_needs_no_key(client, keyed):
    """The panel analyses through its own callbacks (classifier/panel/), never through /api/analyze."""
    assert client.get("/").status_code == 200


def test_a_key_is_never_logged(client, keyed, photo_bytes, caplog):
    with caplog.at_level(logging.DEBUG):
        analyze(client, photo_bytes, "sw_a-wrong-key-to-look-for")
        analyze(client, photo_bytes, PARTNER_KEY)
    assert "sw_a-wrong-key" not in caplog.text and PARTNER_KEY not in caplog.text


def test_the_command_creates_lists_and_revokes_keys_kept_as_hashes(client, service, settings, tmp_path, photo_bytes):
    settings.SCENEWEB_API_KEYS_FILE = str(tmp_path / "keys")
    out = io.StringIO()
    call_command("api_keys", "create", "partner", stdout=out)
    key = out.getvalue().split("partner: ", 1)[1].split()[0]
    stored = (tmp_path / "keys").read_text()
    assert key not in stored and apikeys.key_hash(key) in stored
    assert analyze(client, photo_bytes, key).status_code == 200

    listing = io.StringIO()
    call_command("api_keys", "list", stdout=listing)
    assert listing.getvalue().startswith("partner sha256:") and key not in listing.getvalue()

    call_command("api_keys", "revoke", "partner", stdout=io.StringIO())
    assert_refused(analyze(client, photo_bytes, key), 401, "api_key_invalid")  # at once, no restart
    with pytest.raises(CommandError, match="no key called 'partner'"):
        call_command("api_keys", "revoke", "partner")


def test_a_malformed_key_entry_is_the_operators_error_and_names_no_key(settings):
    settings.SCENEWEB_API_KEYS = ["partner:sw_plain-key-instead-of-a-hash"]
    with pytest.raises(ImproperlyConfigured, match="SCENEWEB_API_KEYS") as refused:
        apikeys.stored_keys()
    assert "sw_plain" not in str(refused.value)
