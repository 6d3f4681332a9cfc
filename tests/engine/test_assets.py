import json
import time

import pytest

from classifier.engine import assets
from classifier.engine.errors import DownloadFailed, WeightsMissing
from tests.httpserver import local_server, serve_bytes

FAST = assets.DownloadPolicy(connect_timeout=2, read_timeout=0.5, retries=2, backoff_seconds=0.01, progress=False)


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_it_downloads_validates_and_records_a_file(tmp_path, release_dir):
    body = (release_dir / "categories_places365.txt").read_bytes()
    with local_server({"/c.txt": serve_bytes(body, "text/plain")}) as base:
        target = assets.download("categories_places365", tmp_path, policy=FAST, url=f"{base}/c.txt")
    assert target.read_bytes() == body
    entry = json.loads((tmp_path / "manifest.json").read_text())["categories_places365.txt"]
    assert entry["sha256"] == assets.sha256_of(target) and entry["source"].endswith("/c.txt")
    assert assets.is_installed(tmp_path, assets.asset_spec("categories_places365"))


def test_a_404_fails_at_once_and_leaves_nothing(tmp_path):
    with local_server({}) as base, pytest.raises(DownloadFailed, match="HTTP 404"):
        assets.download("resnet18_places365", tmp_path, policy=FAST, url=f"{base}/missing")
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_body_is_retried_then_refused_without_a_partial_file(tmp_path, release_dir):
    body = (release_dir / "resnet18_places365.pth.tar").read_bytes()
    attempts = []

    def truncated(request):
        attempts.append(1)
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body[:1000])

    with local_server({"/w": truncated}) as base, pytest.raises(DownloadFailed, match="after 2 tries"):
        assets.download("resnet18_places365", tmp_path, policy=FAST, url=f"{base}/w")
    assert len(attempts) == 2
    assert leftovers(tmp_path) == [] and not (tmp_path / "resnet18_places365.pth.tar").exists()


def test_a_slow_server_times_out_cleanly(tmp_path):
    def slow(request):
        request.send_response(200)
        request.send_header("Content-Length", "100")
        request.end_headers()
        request.wfile.write(b"x")
        request.wfile.flush()
        time.sleep(2)

    started = time.monotonic()
    with local_server({"/slow": slow}) as base, pytest.raises(DownloadFailed, match="tries"):
        assets.download("categories_places365", tmp_path, policy=FAST, url=f"{base}/slow")
    assert time.monotonic() - started < 10
    assert leftovers(tmp_path) == []


def test_a_file_that_does_not_load_is_not_installed(tmp_path):
    with local_server({"/w": serve_bytes(b"<html>moved</html>", "text/html")}) as base:
        with pytest.raises(DownloadFailed, match="unusable.*not a PyTorch checkpoint"):
            assets.download("resnet18_places365", tmp_path, policy=FAST, url=f"{base}/w")
    assert not (tmp_path / "resnet18_places365.pth.tar").exists() and leftovers(tmp_path) == []


def test_it_installs_from_a_local_folder_and_checks_every_file(tmp_path, release_dir):
    for name in assets.DEFAULT_ASSETS:
        assets.install_from_dir(name, tmp_path, release_dir)
    statuses = {s.name: s.state for s in assets.check(tmp_path)}
    assert statuses == dict.fromkeys(assets.DEFAULT_ASSETS, "ok")


def test_install_from_a_folder_names_a_missing_file(tmp_path):
    with pytest.raises(WeightsMissing, match="resnet18_places365.pth.tar"):
        assets.install_from_dir("resnet18_places365", tmp_path / "models", tmp_path)


def test_check_reports_missing_and_broken_files(tmp_path, release_dir):
    assets.install_from_dir("categories_places365", tmp_path, release_dir)
    (tmp_path / "IO_places365.txt").write_text("nonsense")
    statuses = {s.name: s for s in assets.check(tmp_path)}
    assert statuses["categories_places365"].state == "ok"
    assert statuses["io_places365"].state == "broken"
    assert statuses["resnet18_places365"].state == "missing"
    assert "fetch_models" in statuses["resnet18_places365"].detail


def test_a_modified_file_is_no_longer_counted_as_installed(tmp_path, release_dir):
    assets.install_from_dir("labels_sunattribute", tmp_path, release_dir)
    spec = assets.asset_spec("labels_sunattribute")
    assert assets.is_installed(tmp_path, spec)
    with open(tmp_path / spec.filename, "a") as handle:
        handle.write("extra\n")
    assert not assets.is_installed(tmp_path, spec)
