import dataclasses
import errno
import json
import re
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from classifier.engine import catalogue
from tests.support.httpserver import local_server, serve_bytes


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("fetch_models", *args, stdout=out)
    return out.getvalue()


def test_it_installs_from_a_folder_then_skips_what_is_valid(tmp_path, use_models, release_dir):
    use_models(tmp_path / "models")
    output = run("--from", str(release_dir))
    assert output.count("copied") == 4
    assert output.count("ok ") == 4
    manifest = json.loads((tmp_path / "models" / "manifest.json").read_text())
    assert set(manifest) == {catalogue.asset_spec(n).filename for n in catalogue.DEFAULT_ASSETS}
    again = run("--from", str(release_dir))
    assert again.count("skipped") == 4


def test_check_fails_and_says_what_is_missing(tmp_path, use_models):
    use_models(tmp_path)
    with pytest.raises(CommandError, match="fetch_models"):
        run("--check")


def serve_release(folder: Path) -> dict:
    return {f"/{item.name}": serve_bytes(item.read_bytes()) for item in folder.iterdir()}


@pytest.fixture
def public_addresses(monkeypatch):
    """Point every asset's public addresses at a local server (tests never reach the internet)."""

    def point(base: str) -> None:
        for name, spec in catalogue.ASSETS.items():
            if spec.urls:
                monkeypatch.setitem(
                    catalogue.ASSETS, name, dataclasses.replace(spec, urls=(f"{base}/{spec.filename}",))
                )

    return point


def test_it_downloads_the_scene_files_and_the_attribute_matrix(
    tmp_path, use_models, matrix_release_dir, public_addresses
):
    with local_server(serve_release(matrix_release_dir)) as base:
        public_addresses(base)
        use_models(tmp_path)
        output = run("--verbosity", "0")
    assert output.count("fetched") == 6 and output.count("ok ") == 5
    assert f"fetched  W_sceneattribute_wideresnet18.npy from {base}/W_sceneattribute_wideresnet18.npy" in output
    assert re.search(r"^ok +attributes: matrix +wideresnet18_places365.pth.tar \+ W_sceneattribute", output, re.M)
    assert "raw linear responses, not probabilities" in output


def test_a_broken_mirror_falls_back_to_the_public_addresses(
    tmp_path, use_models, settings, matrix_release_dir, public_addresses
):
    def broken(request):
        request.send_response(503)
        request.end_headers()

    mirror_routes = {f"/{item.name}": broken for item in matrix_release_dir.iterdir()}
    with local_server(mirror_routes) as mirror, local_server(serve_release(matrix_release_dir)) as public:
        public_addresses(public)
        settings.SCENEWEB_MODELS_MIRROR = f"{mirror}/"
        use_models(tmp_path)
        output = run("--verbosity", "0", "--retries", "1")
    assert output.count(f"from {public}/") == 6 and mirror not in output


def test_a_wrong_hash_stops_the_install_with_a_clear_message(
    tmp_path, use_models, settings, matrix_release_dir, public_addresses
):
    routes = serve_release(matrix_release_dir)
    routes["/IO_places365.txt"] = serve_bytes((matrix_release_dir / "IO_places365.txt").read_bytes() + b"\n")
    with local_server(routes) as base:
        public_addresses(base)
        use_models(tmp_path)
        with pytest.raises(CommandError, match=r"IO_places365.txt .* published sha256 is 0a65ceb7.*refused"):
            run("--verbosity", "0")
    assert not (tmp_path / "IO_places365.txt").exists()


def test_from_a_folder_installs_a_trained_head_found_there(
    tmp_path, use_models, matrix_release_dir, attribute_checkpoint_file
):
    folder = tmp_path / "brought"
    shutil.copytree(matrix_release_dir, folder)
    shutil.copyfile(attribute_checkpoint_file, folder / attribute_checkpoint_file.name)
    use_models(tmp_path / "models")
    output = run("--from", str(folder))
    assert f"copied   densenet201_sunattributes.pth from {folder}" in output
    assert re.search(
        r"^ok +attributes: trained head +densenet201_sunattributes.pth; scores are probabilities", output, re.M
    )
    assert (tmp_path / "models" / "densenet201_sunattributes.pth").is_file()


def test_check_lists_the_attribute_source_and_its_state(tmp_path, use_models, models_dir, fresh_models_dir):
    use_models(models_dir)  # scene files only: attributes are optional, so the check passes and says how to get them
    output = run("--check")
    assert re.search(r"^missing +attributes: none +wideresnet18_places365.pth.tar, W_sceneattribute", output, re.M)
    assert "python manage.py fetch_models" in output and "train_attributes" in output
    use_models(fresh_models_dir)
    assert re.search(r"^ok +attributes: matrix ", run("--check"), re.M)
    broken = tmp_path / "broken"
    shutil.copytree(fresh_models_dir, broken)
    (broken / "W_sceneattribute_wideresnet18.npy").write_bytes(b"not numpy")
    use_models(broken)
    with pytest.raises(CommandError, match="SUN-attribute files .* broken"):
        run("--check")


def test_a_full_disk_is_a_command_error_naming_the_folder(tmp_path, use_models, release_dir, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    use_models(tmp_path / "models")
    with pytest.raises(
        CommandError, match=rf"Cannot write model files into {re.escape(str(tmp_path))}/models: the disk"
    ):
        run("--from", str(release_dir))


def test_it_installs_sample_photos_from_a_folder(tmp_path, use_models, release_dir, settings, sample_photos):
    use_models(tmp_path / "models")
    settings.SCENEWEB_SAMPLES_DIR = tmp_path / "samples"
    output = run("--from", str(release_dir), "--samples-from", str(sample_photos[0].parent))
    assert f"{len(sample_photos)} photos copied" in output
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == sorted(p.name for p in sample_photos)


def test_a_mirror_that_is_no_web_address_stops_start_up(settings):
    from django.core.exceptions import ImproperlyConfigured

    from classifier.checks import check_model_settings

    settings.SCENEWEB_MODELS_MIRROR = "s3://bucket/models"
    with pytest.raises(ImproperlyConfigured, match="SCENEWEB_MODELS_MIRROR='s3://bucket/models' is not an http"):
        check_model_settings(settings)


def test_sample_photos_come_from_the_mirror_first(tmp_path, use_models, release_dir, settings, sample_photos):
    use_models(tmp_path / "models")
    settings.SCENEWEB_SAMPLES_DIR = tmp_path / "samples"
    photo = serve_bytes(sample_photos[0].read_bytes(), "image/jpeg")
    with local_server({"/mirror/6.jpg": photo, "/mirror/12.jpg": photo}) as base:
        settings.SCENEWEB_MODELS_MIRROR = f"{base}/mirror/"
        output = run("--from", str(release_dir), "--samples")
    assert f"samples  2 photos downloaded to {tmp_path / 'samples'} from {base}/mirror/" in output
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["places_demo_12.jpg", "places_demo_6.jpg"]


def test_a_failed_sample_download_names_the_ways_out(tmp_path, use_models, release_dir, settings, monkeypatch):
    from classifier.engine import installer

    use_models(tmp_path / "models")
    settings.SCENEWEB_SAMPLES_DIR = tmp_path / "samples"
    with local_server({}) as base:  # neither the mirror nor the "public" address has the photo
        monkeypatch.setattr(installer, "SAMPLE_URLS", (f"{base}/public/6.jpg",))
        settings.SCENEWEB_MODELS_MIRROR = f"{base}/mirror"
        with pytest.raises(CommandError) as refused:
            run("--from", str(release_dir), "--samples", "--retries", "1")
    message = str(refused.value)
    assert f"{base}/mirror/6.jpg" in message and f"{base}/public/6.jpg" in message
    assert "--samples-from DIR" in message and "--from DIR" in message and "SCENEWEB_MODELS_MIRROR" in message


def test_it_converts_the_networks_for_the_mode_once_and_the_service_then_reads_them(
    tmp_path, use_models, matrix_release_dir, settings, monkeypatch
):
    openvino = pytest.importorskip("openvino")
    from classifier import runtime
    from classifier.engine.analyzer import SceneAnalyzer

    use_models(tmp_path / "models")
    settings.SCENEWEB_INFERENCE_CACHE_DIR = str(tmp_path / "converted")
    output = run("--from", str(matrix_release_dir), "--mode", "openvino")
    assert f"ready    openvino networks in {tmp_path / 'converted'}" in output
    entries = sorted(p.name for p in (tmp_path / "converted").iterdir())
    assert len(entries) == 2 and all(name.startswith("openvino-") for name in entries)  # ResNet-18, WideResNet-18
    conversions = []
    monkeypatch.setattr(openvino, "convert_model", lambda *args, **kwargs: conversions.append(args))
    settings.SCENEWEB_INFERENCE_MODE = "openvino"
    analyzer = SceneAnalyzer.from_models_dir(**runtime.analyzer_recipe())
    assert analyzer.inference.mode == "openvino" and conversions == []


def test_it_converts_nothing_for_a_mode_that_runs_pytorch(tmp_path, use_models, release_dir, settings):
    use_models(tmp_path / "models")
    settings.SCENEWEB_INFERENCE_CACHE_DIR = str(tmp_path / "converted")
    output = run("--from", str(release_dir), "--mode", "fused")
    assert "ready" not in output and not (tmp_path / "converted").exists()
