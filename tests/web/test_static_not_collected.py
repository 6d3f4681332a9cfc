"""A production server (no DEBUG) whose static files were never collected: the page answers 503
naming `collectstatic`, the log says it at start-up, and the API keeps working."""

from __future__ import annotations

import logging

import pytest
from django.core.management import call_command

import sceneweb.settings as production
from classifier.checks import missing_static_manifest, warn_if_static_files_missing


@pytest.fixture
def uncollected(settings, service, tmp_path):
    settings.DEBUG = False
    settings.STORAGES = production.STORAGES
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.STATIC_ROOT.mkdir()  # there, but empty: `collectstatic` never ran
    return settings.STATIC_ROOT


def test_the_page_names_the_missing_step_instead_of_a_500(client, uncollected, caplog):
    with caplog.at_level(logging.ERROR, logger="sceneweb"):
        response = client.get("/")
    assert response.status_code == 503
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    text = response.content.decode()
    assert "run `python manage.py collectstatic --noinput`" in text
    assert str(uncollected / "staticfiles.json") in text
    assert "collectstatic --noinput" in caplog.text
    assert client.get("/api/health").status_code == 200  # the API needs no static files


def test_start_up_logs_the_missing_step(uncollected, caplog):
    with caplog.at_level(logging.ERROR, logger="sceneweb"):
        warn_if_static_files_missing()
    assert "static files have not been collected" in caplog.text
    assert "python manage.py collectstatic --noinput" in caplog.text


def test_after_collectstatic_nothing_is_reported(uncollected, settings, tmp_path, caplog):
    source = tmp_path / "source"
    (source / "css").mkdir(parents=True)
    (source / "css" / "site.css").write_text("body { margin: 0 }\n")
    settings.STATICFILES_DIRS = [source]
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    call_command("collectstatic", "--noinput", verbosity=0)
    assert missing_static_manifest() is None
    with caplog.at_level(logging.ERROR, logger="sceneweb"):
        warn_if_static_files_missing()
    assert caplog.text == ""


def test_debug_serves_from_the_source_folders_and_needs_no_collecting(uncollected, settings):
    settings.DEBUG = True
    assert missing_static_manifest() is None
