"""`fetch_models` and the start-up hold model files to the bytes that were installed: a bit-flipped
file is "changed" at `--check` and stops the start; a broken one brought with `--from` is refused
under the name the user knows, never the temporary `.part` file's."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from classifier.engine import catalogue
from classifier.engine.manifest import read_manifest
from classifier.runtime import load_models_at_start

WEIGHTS = catalogue.asset_spec("resnet18_places365").filename


def run(*args) -> str:
    out = StringIO()
    call_command("fetch_models", *args, stdout=out)
    return out.getvalue()


def flip_a_bit(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def installed(tmp_path, models_dir) -> Path:
    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    return folder


def test_a_two_byte_pickle_brought_with_from_is_refused_by_its_own_name(tmp_path, use_models, release_dir):
    use_models(tmp_path / "models")
    brought = tmp_path / "release"
    shutil.copytree(release_dir, brought)
    (brought / WEIGHTS).write_bytes(b"(.")
    with pytest.raises(CommandError) as refused:
        run("--from", str(brought))
    message = str(refused.value)
    assert message == (
        f"Weight file {WEIGHTS} from {brought / WEIGHTS} is truncated, corrupt or not a PyTorch checkpoint; "
        f"{catalogue.FETCH_HINT}."
    )
    assert not list((tmp_path / "models").glob("*.part"))


def test_check_reports_a_bit_flipped_file_as_changed(installed, use_models):
    use_models(installed)
    recorded = read_manifest(installed)[WEIGHTS]["sha256"]
    flip_a_bit(installed / WEIGHTS, (installed / WEIGHTS).stat().st_size // 2)  # inside the tensor data
    out = StringIO()
    with pytest.raises(CommandError, match="missing, changed or broken"):
        call_command("fetch_models", "--check", stdout=out)
    line = next(line for line in out.getvalue().splitlines() if WEIGHTS in line)
    assert line.startswith("changed ")
    assert "has changed since it was installed: sha256 " in line
    assert (
        f"but the sha256 recorded at install ({read_manifest(installed)[WEIGHTS]['installed_at']}) is {recorded}"
        in line
    )


def test_the_server_refuses_to_start_with_a_bit_flipped_file(installed, use_models):
    use_models(installed)
    flip_a_bit(installed / WEIGHTS, (installed / WEIGHTS).stat().st_size // 2)
    with pytest.raises(ImproperlyConfigured, match=r"sceneweb cannot start: .* has changed since it was installed"):
        load_models_at_start()


def test_the_server_refuses_a_two_byte_pickle_at_start_in_our_words(installed, use_models):
    use_models(installed)
    (installed / WEIGHTS).write_bytes(b"(.")
    (installed / "manifest.json").unlink()  # nothing to compare with: the loader itself must say it
    with pytest.raises(ImproperlyConfigured) as refused:
        load_models_at_start()
    assert str(refused.value) == (
        f"sceneweb cannot start: Weight file {installed / WEIGHTS} is truncated, corrupt or not a PyTorch "
        f"checkpoint; {catalogue.FETCH_HINT}."
    )


def test_an_intact_install_passes_check_and_starts(installed, use_models):
    use_models(installed)
    assert "changed" not in run("--check")
    load_models_at_start()
