"""Checks that keep the repository honest: lint clean, and the docs describe what exists.

The README is the front door; the reference lives in docs/ (settings in docs/settings.md).
"""

import re
import subprocess
import sys

import pytest

from classifier.testing.paths import REPO

README = (REPO / "README.md").read_text()
SETTINGS_DOC = (REPO / "docs" / "settings.md").read_text()
ALL_DOCS = README + "".join(page.read_text() for page in sorted((REPO / "docs").glob("*.md")))


def environment_variables_read() -> set[str]:
    names = set()
    for source in [REPO / "sceneweb" / "settings.py", REPO / "sceneweb" / "gunicorn.py"]:
        names |= set(re.findall(r"env_\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", source.read_text()))
        names |= set(re.findall(r"environ(?:\.get)?[\[(]\s*\"([A-Z][A-Z0-9_]+)\"", source.read_text()))
        names |= set(re.findall(r"\benv=\"([A-Z][A-Z0-9_]+)\"", source.read_text()))
    return names - {"DJANGO_SETTINGS_MODULE"}


def management_commands() -> list[str]:
    return sorted(
        p.stem for p in (REPO / "classifier" / "management" / "commands").glob("*.py") if p.stem != "__init__"
    )


def test_ruff_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "concise", str(REPO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(environment_variables_read()))
def test_every_setting_is_in_the_settings_table(name):
    assert re.search(rf"^\| `{name}` \|", SETTINGS_DOC, re.MULTILINE), (
        f"{name} is read in settings but missing from the table in docs/settings.md"
    )


@pytest.mark.parametrize("command", management_commands())
def test_every_command_is_documented(command):
    assert f"manage.py {command}" in ALL_DOCS, f"`manage.py {command}` is in neither the README nor docs/"


def test_the_settings_table_has_no_stale_rows():
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", SETTINGS_DOC, re.MULTILINE))
    assert documented <= environment_variables_read()


@pytest.mark.parametrize("page", sorted(set(re.findall(r"\]\((docs/[\w./-]+)\)", README))))
def test_every_page_the_readme_links_to_exists(page):
    assert (REPO / page).is_file(), f"the README links to {page}, which does not exist"


def test_the_readme_stays_a_front_door():
    """The reference lives in docs/; a README that grows past a few screens has swallowed it again."""
    assert len(README.splitlines()) <= 120
