"""The typed readers of sceneweb/env.py: a bad value stops start-up with a message naming it."""

from __future__ import annotations

import subprocess

import pytest
from django.core.exceptions import ImproperlyConfigured

from sceneweb.env import env_bool, env_float, env_int
from tests.support.settings_probe import settings_output


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_a_number_setting_refuses_nan_and_infinity(monkeypatch, raw):
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match=rf"SCENEWEB_TEST_NUMBER='{raw}' is not a finite number"):
        env_float("SCENEWEB_TEST_NUMBER", 1.0, minimum=0.1)


@pytest.mark.parametrize(
    ("reader", "raw", "message"),
    [
        (lambda: env_float("SCENEWEB_TEST_NUMBER", 1.0), "fast", "'fast' is not a number"),
        (lambda: env_float("SCENEWEB_TEST_NUMBER", 1.0, minimum=0.1), "0.01", "0.01 must be at least 0.1"),
        (lambda: env_int("SCENEWEB_TEST_NUMBER", 1), "2.5", "'2.5' is not an integer"),
        (lambda: env_int("SCENEWEB_TEST_NUMBER", 1, minimum=1), "0", "0 must be at least 1"),
        (lambda: env_bool("SCENEWEB_TEST_NUMBER", False), "maybe", "'maybe' is not a boolean"),
    ],
)
def test_a_malformed_setting_is_refused_by_name(monkeypatch, reader, raw, message):
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", raw)
    with pytest.raises(ImproperlyConfigured, match=f"SCENEWEB_TEST_NUMBER={message}"):
        reader()


def test_a_number_setting_reads_plain_numbers_and_blank_as_the_default(monkeypatch):
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", " 2.5 ")
    assert env_float("SCENEWEB_TEST_NUMBER", 1.0) == 2.5
    monkeypatch.setenv("SCENEWEB_TEST_NUMBER", "")
    assert env_float("SCENEWEB_TEST_NUMBER", 1.0) == 1.0


@pytest.mark.parametrize(
    ("environment", "named"),
    [({"SCENEWEB_FETCH_TIMEOUT": "nan"}, "SCENEWEB_FETCH_TIMEOUT='nan'"), ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG")],
)
def test_the_settings_refuse_to_load_with_a_bad_value(environment, named):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        settings_output("print('loaded')", environment)
    assert f"ImproperlyConfigured: {named}" in failed.value.stderr
