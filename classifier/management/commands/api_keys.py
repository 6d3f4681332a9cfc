"""manage.py api_keys create NAME | revoke NAME | list: the API keys in SCENEWEB_API_KEYS_FILE."""

from __future__ import annotations

from classifier import apikeys
from classifier.engine.errors import SceneWebError
from classifier.management.base import SceneWebCommand


class Command(SceneWebCommand):
    help = (
        "Create, revoke or list API keys in SCENEWEB_API_KEYS_FILE. A new key is printed once; "
        "only its SHA-256 is kept."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["create", "revoke", "list"])
        parser.add_argument("name", nargs="?", help="the key's name (a partner, an app): its own rate limit")

    def handle(self, *args, action: str, name: str | None, **options) -> None:
        path = apikeys.keys_file()
        if path is None:
            raise SceneWebError("Set SCENEWEB_API_KEYS_FILE to the file that holds the keys' hashes.")
        keys = apikeys.file_keys(path)
        if action == "list":
            for key_name, digest in sorted(keys.items()):
                self.stdout.write(f"{key_name} sha256:{digest[:12]}...")
            return
        if name is None or not apikeys.NAME.fullmatch(name):
            raise SceneWebError("Name the key: letters, digits, . _ - (at most 64).")
        if action == "create":
            if name in keys:
                raise SceneWebError(f"There is already a key called {name!r}; revoke it first.")
            key = apikeys.new_key()
            apikeys.write_keys(path, keys | {name: apikeys.key_hash(key)})
            self.stdout.write(f"{name}: {key}\nKeep it now: it is not stored and cannot be shown again.")
            return
        if keys.pop(name, None) is None:
            raise SceneWebError(f"There is no key called {name!r}.")
        apikeys.write_keys(path, keys)
        self.stdout.write(f"revoked {name}")
