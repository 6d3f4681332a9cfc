"""The typed readers of sceneweb/env.py: a bad value stops start-up with a message naming the
variable and what to write instead; a blank or absent one means the default."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from classifier.testing.paths import REPO
from sceneweb.env import env_bool, env_choice, env_float, env_int, env_list, env_path
from tests.support.settings_probe import settings_output


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_a_number_setting_refuses_nan_and_infinity(monkeypatch, raw):
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match=rf"SCENEWEB_TEST_NUMBER='{raw}' is not a finite number"):
        env_float("SCENEWEB_TEST_NUMBER", 1.0, minimum=0.1)


@pytest.mark.parametrize(
    ("reader", "raw", "message"),
    [
        (
            lambda: env_float("SCENEWEB_TEST_NUMBER", 1.0),
            "fast",
            "'fast' is not a number; give one, or unset it for 1.0",
        ),
        (lambda: env_float("SCENEWEB_TEST_NUMBER", 1.0, minimum=0.1), "0.01", "0.01 must be at least 0.1"),
        (lambda: env_int("SCENEWEB_TEST_NUMBER", 5), "2.5", "'2.5' is not an integer; give a whole number, or unset"),
        (lambda: env_int("SCENEWEB_TEST_NUMBER", 5), "five", "'five' is not an integer"),
        (lambda: env_int("SCENEWEB_TEST_NUMBER", 5, minimum=1), "0", "0 must be at least 1"),
        (lambda: env_bool("SCENEWEB_TEST_NUMBER", False), "maybe", "'maybe' is not a boolean; use 1/0, true/false"),
        (
            lambda: env_choice("SCENEWEB_TEST_NUMBER", "open", ("open", "closed")),
            "ajar",
            "'ajar' is not one of open, closed; use one, or unset it for open",
        ),
    ],
)
def test_a_malformed_setting_is_refused_by_name(monkeypatch, reader, raw, message):
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match=f"^SCENEWEB_TEST_NUMBER={message}"):
        reader()


@pytest.mark.parametrize(("raw", "expected"), [("1", True), (" Yes ", True), ("off", False), ("", False)])
def test_a_boolean_reads_its_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SCENEWEB_FLAG", raw)
    assert env_bool("SCENEWEB_FLAG", not expected) is expected


def test_a_number_setting_reads_plain_numbers_and_blank_as_the_default(monkeypatch):
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", " 2.5 ")
    assert env_float("SCENEWEB_TEST_NUMBER", 1.0) == 2.5
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", "")
    assert env_float("SCENEWEB_TEST_NUMBER", 1.0) == 1.0
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", " ")
    assert env_int("SCENEWEB_TEST_NUMBER", 5, minimum=1) == 5


def test_a_choice_ignores_case_and_blank_means_the_default(monkeypatch):
    monkeypatch.setenv("SCENEWEB_TEST_CHOICE", " Closed ")
    assert env_choice("SCENEWEB_TEST_CHOICE", "open", ("open", "closed")) == "closed"
    monkeypatch.setenv("SCENEWEB_TEST_CHOICE", "")
    assert env_choice("SCENEWEB_TEST_CHOICE", "open", ("open", "closed")) == "open"


def test_a_list_drops_blank_items_and_spaces(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", " a.example , ,b.example,")
    assert env_list("DJANGO_ALLOWED_HOSTS", ["localhost"]) == ["a.example", "b.example"]


def test_a_relative_path_is_taken_from_the_project_root(monkeypatch, tmp_path):
    monkeypatch.setenv("SCENEWEB_MODELS_DIR", "weights")
    assert env_path("SCENEWEB_MODELS_DIR", Path("models"), base=tmp_path) == tmp_path / "weights"
    monkeypatch.setenv("SCENEWEB_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert env_path("SCENEWEB_MODELS_DIR", Path("models"), base=REPO) == tmp_path / "elsewhere"


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"SCENEWEB_FETCH_TIMEOUT": "nan"}, "SCENEWEB_FETCH_TIMEOUT='nan' is not a finite number"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe' is not a boolean"),
        ({"SCENEWEB_RATE_LIMIT_ON_CACHE_ERROR": "ajar"}, "SCENEWEB_RATE_LIMIT_ON_CACHE_ERROR='ajar' is not one of"),
    ],
)
def test_the_settings_refuse_to_load_with_a_bad_value(environment, named):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        settings_output("print('loaded')", environment)
    assert f"ImproperlyConfigured: {named}" in failed.value.stderr
