"""API keys, when the operator wants them: SCENEWEB_API_KEYS (`name:sha256`, comma-separated) and/or
SCENEWEB_API_KEYS_FILE (one `name sha256` per line, written by `manage.py api_keys`).

Only hashes are stored; a key is compared by its SHA-256 (keys are 256-bit random, so a fast hash
is enough) with `hmac.compare_digest` against every stored hash, never by string equality. With
neither setting the API is open, as before. The page's panel never goes through /api/analyze, so
visitors need no key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from classifier.engine.errors import SceneWebError

KEY_PREFIX = "sw_"
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
HASH = re.compile(r"[0-9a-f]{64}")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def parse_entry(entry: str, source: str) -> tuple[str, str]:
    name, _, digest = entry.replace(":", " ", 1).partition(" ")
    name, digest = name.strip(), digest.strip().lower()
    if not (NAME.fullmatch(name) and HASH.fullmatch(digest)):  # the operator's mistake, not the caller's
        raise ImproperlyConfigured(f"{source}: an entry is not `name sha256-hex` (run manage.py api_keys create).")
    return name, digest


def file_keys(path: Path) -> dict[str, str]:
    """{name: hash} from a keys file (absent: none); blank lines and # comments are skipped."""
    if not path.is_file():
        return {}
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(parse_entry(line, str(path)) for line in lines if line and not line.startswith("#"))


def keys_file() -> Path | None:
    return Path(settings.SCENEWEB_API_KEYS_FILE) if settings.SCENEWEB_API_KEYS_FILE else None


def stored_keys() -> dict[str, str]:
    """Every key's hash by name; read on each call, so a revoked key stops at once, without a restart."""
    keys = dict(parse_entry(entry, "SCENEWEB_API_KEYS") for entry in settings.SCENEWEB_API_KEYS)
    if (path := keys_file()) is not None:
        keys |= file_keys(path)
    return keys


def keys_required() -> bool:
    return bool(settings.SCENEWEB_API_KEYS or settings.SCENEWEB_API_KEYS_FILE)


def key_name(key: str, keys: dict[str, str]) -> str | None:
    """The name of the stored key that matches, comparing against all of them in constant time."""
    digest = key_hash(key)
    found = None
    for name, stored in keys.items():
        if hmac.compare_digest(digest, stored):
            found = name
    return found


def api_client(request: HttpRequest) -> str | None:
    """Whose quota a call counts against: `key:<name>` when keys are required, else None (the address)."""
    if not keys_required():
        return None
    scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise SceneWebError("This API needs a key: send `Authorization: Bearer <key>`.", code="api_key_required")
    name = key_name(key.strip(), stored_keys())
    if name is None:
        raise SceneWebError("This API key is not valid (unknown or revoked).", code="api_key_invalid")
    return f"key:{name}"


def write_keys(path: Path, keys: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# sceneweb API keys: name sha256 (manage.py api_keys); the keys themselves are not kept"]
    path.write_text("\n".join([*lines, *(f"{name} {digest}" for name, digest in sorted(keys.items()))]) + "\n")
    path.chmod(0o600)
