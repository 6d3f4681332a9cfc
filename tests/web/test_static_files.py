"""Static files in production: `collectstatic` makes hashed, compressed copies; whitenoise serves
them with caching headers that let browsers keep hashed names forever and plain names briefly."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.http import HttpResponse
from django.test import RequestFactory
from whitenoise.middleware import WhiteNoiseMiddleware

import sceneweb.settings as production

STYLESHEET = "body { color: #123456; margin: 0 auto; }\n" * 200  # large enough to be worth compressing


@pytest.fixture
def collected(settings, tmp_path):
    """The production storage, after `collectstatic` of one stylesheet."""
    source = tmp_path / "source"
    (source / "css").mkdir(parents=True)
    (source / "css" / "site.css").write_text(STYLESHEET)
    settings.STATICFILES_DIRS = [source]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATIC_ROOT = tmp_path / "collected"
    settings.STORAGES = production.STORAGES
    call_command("collectstatic", "--noinput", verbosity=0)
    return settings.STATIC_ROOT


def serve(path: str, **headers) -> HttpResponse:
    middleware = WhiteNoiseMiddleware(lambda request: HttpResponse("not a static file", status=404))
    return middleware(RequestFactory().get(path, **headers))


def test_production_serves_static_files_through_whitenoise_from_hashed_copies():
    assert production.MIDDLEWARE[:2] == [
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]
    assert production.STORAGES["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"


def test_pages_link_the_hashed_name(collected):
    url = staticfiles_storage.url("css/site.css")

    assert url.startswith("/static/css/site.")
    assert url.endswith(".css")
    assert url != "/static/css/site.css"
    assert (collected / url.removeprefix("/static/")).read_text() == STYLESHEET


def test_a_hashed_file_is_cached_forever_and_sent_compressed(collected):
    response = serve(staticfiles_storage.url("css/site.css"), HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=315360000, public, immutable"
    assert response["Content-Encoding"] == "gzip"
    assert response["Vary"] == "Accept-Encoding"
    assert response["Content-Type"].startswith("text/css")


def test_a_plain_name_is_cached_for_a_minute_only(collected):
    response = serve("/static/css/site.css")

    assert response.status_code == 200
    assert response["Cache-Control"] == "max-age=60, public"
    assert "Content-Encoding" not in response
