"""sceneweb/env.py: a bad value in the environment stops start-up with a message naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from classifier.testing.paths import REPO
from sceneweb.env import env_bool, env_int, env_list, env_path


def test_it_refuses_a_boolean_that_is_neither_yes_nor_no(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_DEBUG='maybe' is not a boolean"):
        env_bool("DJANGO_DEBUG", False)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), (" Yes ", True), ("off", False), ("", False)])
def test_it_reads_the_spellings_of_a_boolean(monkeypatch, raw, expected):
    monkeypatch.setenv("SCENEWEB_FLAG", raw)
    assert env_bool("SCENEWEB_FLAG", not expected) is expected


def test_it_refuses_an_integer_that_is_not_one(monkeypatch):
    monkeypatch.setenv("SCENEWEB_TOP_K", "five")
    with pytest.raises(ImproperlyConfigured, match=r"SCENEWEB_TOP_K='five' is not an integer"):
        env_int("SCENEWEB_TOP_K", 5, minimum=1)


def test_it_refuses_an_integer_below_its_minimum(monkeypatch):
    monkeypatch.setenv("SCENEWEB_TOP_K", "0")
    with pytest.raises(ImproperlyConfigured, match=r"SCENEWEB_TOP_K=0 must be at least 1"):
        env_int("SCENEWEB_TOP_K", 5, minimum=1)


def test_an_empty_integer_means_its_default(monkeypatch):
    monkeypatch.setenv("SCENEWEB_TOP_K", " ")
    assert env_int("SCENEWEB_TOP_K", 5, minimum=1) == 5


def test_a_list_drops_blank_items_and_spaces(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", " a.example , ,b.example,")
    assert env_list("DJANGO_ALLOWED_HOSTS", ["localhost"]) == ["a.example", "b.example"]


def test_a_relative_path_is_taken_from_the_project_root(monkeypatch, tmp_path):
    monkeypatch.setenv("SCENEWEB_MODELS_DIR", "weights")
    assert env_path("SCENEWEB_MODELS_DIR", Path("models"), base=tmp_path) == tmp_path / "weights"
    monkeypatch.setenv("SCENEWEB_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert env_path("SCENEWEB_MODELS_DIR", Path("models"), base=REPO) == tmp_path / "elsewhere"


def test_the_settings_do_not_start_with_a_bad_debug_value():
    probe = subprocess.run(
        [sys.executable, "-c", "import sceneweb.settings"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "maybe"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode != 0
    assert "ImproperlyConfigured: DJANGO_DEBUG='maybe' is not a boolean" in probe.stderr
