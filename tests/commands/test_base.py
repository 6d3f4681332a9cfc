"""Every command ends a domain error with its plain words (CommandError), not a traceback."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from classifier.engine.errors import WeightsMissing
from classifier.management.base import SceneWebCommand
from classifier.testing.paths import REPO

COMMANDS = REPO / "classifier" / "management" / "commands"


class Refusing(SceneWebCommand):
    def handle(self, *args, **options):
        raise WeightsMissing("Weight file x.pth is missing; run `python manage.py fetch_models`.")


class Broken(SceneWebCommand):
    def handle(self, *args, **options):
        raise ValueError("a bug")


def test_a_domain_error_ends_the_command_with_its_message():
    with pytest.raises(CommandError, match=r"^Weight file x\.pth is missing; run `python manage\.py fetch_models`\.$"):
        call_command(Refusing())


def test_other_errors_are_not_disguised_as_refusals():
    with pytest.raises(ValueError, match="a bug"):
        call_command(Broken())


@pytest.mark.parametrize("module", sorted(p.stem for p in COMMANDS.glob("*.py") if p.stem != "__init__"))
def test_every_command_uses_the_base_class(module):
    command = import_module(f"classifier.management.commands.{module}").Command
    assert issubclass(command, SceneWebCommand)


def test_finetune_refuses_a_bad_option_in_plain_words(tmp_path):
    with pytest.raises(CommandError, match=r"^epochs must be at least 1, got 0$"):
        call_command("finetune", "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--epochs", "0")


def test_evaluate_refuses_a_missing_model_in_plain_words(tmp_path):
    with pytest.raises(CommandError, match=r"^Weight file .*missing\.pth is missing; make one with `python manage"):
        call_command("evaluate", "--model", str(tmp_path / "missing.pth"), "--data", str(tmp_path))
