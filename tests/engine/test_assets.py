import dataclasses
import errno
import json
import os
import shutil
import threading
import time

import pytest
import torch

from classifier.engine import catalogue, installer, manifest
from classifier.engine.errors import DownloadFailed, WeightsMissing
from classifier.testing.checkpoints import write_places_checkpoint
from tests.support.httpserver import local_server, serve_bytes

FAST = installer.DownloadPolicy(connect_timeout=2, read_timeout=0.5, retries=2, backoff_seconds=0.01, progress=False)


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


def test_it_downloads_validates_and_records_a_file(tmp_path, release_dir):
    body = (release_dir / "categories_places365.txt").read_bytes()
    with local_server({"/c.txt": serve_bytes(body, "text/plain")}) as base:
        target = installer.download("categories_places365", tmp_path, policy=FAST, urls=[f"{base}/c.txt"])
    assert target.read_bytes() == body
    entry = json.loads((tmp_path / "manifest.json").read_text())["categories_places365.txt"]
    assert entry["sha256"] == manifest.sha256_of(target) and entry["source"].endswith("/c.txt")
    assert manifest.is_installed(tmp_path, catalogue.asset_spec("categories_places365"))


def test_a_404_fails_at_once_and_leaves_nothing(tmp_path):
    with local_server({}) as base, pytest.raises(DownloadFailed, match="HTTP 404"):
        installer.download("resnet18_places365", tmp_path, policy=FAST, urls=[f"{base}/missing"])
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
        installer.download("resnet18_places365", tmp_path, policy=FAST, urls=[f"{base}/w"])
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
        installer.download("categories_places365", tmp_path, policy=FAST, urls=[f"{base}/slow"])
    assert time.monotonic() - started < 10
    assert leftovers(tmp_path) == []


def test_a_file_that_does_not_load_is_not_installed(tmp_path):
    with local_server({"/w": serve_bytes(b"<html>moved</html>", "text/html")}) as base:
        with pytest.raises(DownloadFailed, match="unusable.*not a PyTorch checkpoint"):
            installer.download("resnet18_places365", tmp_path, policy=FAST, urls=[f"{base}/w"])
    assert not (tmp_path / "resnet18_places365.pth.tar").exists() and leftovers(tmp_path) == []


def test_it_installs_from_a_local_folder_and_checks_every_file(tmp_path, release_dir):
    for name in catalogue.DEFAULT_ASSETS:
        installer.install_from_dir(name, tmp_path, release_dir)
    statuses = {s.name: s.state for s in installer.check(tmp_path)}
    assert statuses == dict.fromkeys(catalogue.DEFAULT_ASSETS, "ok")


def test_install_from_a_folder_names_a_missing_file(tmp_path):
    with pytest.raises(WeightsMissing, match="resnet18_places365.pth.tar"):
        installer.install_from_dir("resnet18_places365", tmp_path / "models", tmp_path)


def test_check_reports_missing_and_broken_files(tmp_path, release_dir):
    installer.install_from_dir("categories_places365", tmp_path, release_dir)
    (tmp_path / "IO_places365.txt").write_text("nonsense")
    statuses = {s.name: s for s in installer.check(tmp_path)}
    assert statuses["categories_places365"].state == "ok"
    assert statuses["io_places365"].state == "changed"  # checked against its published sha256 before loading
    assert "is not the published file" in statuses["io_places365"].detail
    assert statuses["resnet18_places365"].state == "missing"
    assert "fetch_models" in statuses["resnet18_places365"].detail


def test_a_modified_file_is_no_longer_counted_as_installed(tmp_path, release_dir):
    installer.install_from_dir("labels_sunattribute", tmp_path, release_dir)
    spec = catalogue.asset_spec("labels_sunattribute")
    assert manifest.is_installed(tmp_path, spec)
    with open(tmp_path / spec.filename, "a") as handle:
        handle.write("extra\n")
    assert not manifest.is_installed(tmp_path, spec)


# -- several addresses, mirrors and hashes ----------------------------------------------------


def test_when_the_first_address_fails_the_next_one_is_used(tmp_path, release_dir):
    body = (release_dir / "resnet18_places365.pth.tar").read_bytes()
    routes = {"/broken/w": serve_bytes(b"", status=503), "/good/w": serve_bytes(body)}
    with local_server(routes) as base:
        installer.download("resnet18_places365", tmp_path, policy=FAST, urls=[f"{base}/broken/w", f"{base}/good/w"])
    entry = manifest.read_manifest(tmp_path)["resnet18_places365.pth.tar"]
    assert entry["source"] == f"{base}/good/w" and entry["sha256"] == manifest.sha256_of(
        release_dir / "resnet18_places365.pth.tar"
    )


def test_the_operator_mirror_is_tried_first_then_the_public_addresses(tmp_path, release_dir, monkeypatch):
    body = (release_dir / "IO_places365.txt").read_bytes()
    asked = []

    def counted(route):
        def handler(request):
            asked.append(request.path)
            route(request)

        return handler

    routes = {
        "/public/IO_places365.txt": counted(serve_bytes(body)),
        "/bucket/IO_places365.txt": counted(serve_bytes(body)),
    }
    with local_server(routes) as base:
        spec = catalogue.asset_spec("io_places365")
        monkeypatch.setitem(
            catalogue.ASSETS, "io_places365", dataclasses.replace(spec, urls=(f"{base}/public/IO_places365.txt",))
        )
        installer.download("io_places365", tmp_path, policy=FAST, mirror=f"{base}/bucket/")
        assert asked == ["/bucket/IO_places365.txt"]
        installer.download("io_places365", tmp_path / "second", policy=FAST, mirror=f"{base}/empty")
        assert asked[1:] == ["/public/IO_places365.txt"]  # the mirror's 404 fell through to the public address


def test_every_downloadable_file_lists_https_first_and_labels_carry_their_published_hash():
    for spec in catalogue.ASSETS.values():
        if spec.urls:
            assert spec.urls[0].startswith("https://"), spec.name
    hashed = {spec.filename for spec in catalogue.ASSETS.values() if spec.sha256}
    assert hashed == {
        "categories_places365.txt",
        "IO_places365.txt",
        "labels_sunattribute.txt",
        "categories_hybrid1365.txt",
    }


def test_the_label_hashes_are_those_of_the_official_files(labels_dir):
    for spec in catalogue.ASSETS.values():
        if spec.sha256:
            assert manifest.sha256_of(labels_dir / spec.filename) == spec.sha256, spec.filename


def test_a_file_whose_hash_differs_from_the_published_one_is_refused_and_not_installed(tmp_path, release_dir):
    lines = (release_dir / "categories_places365.txt").read_text().splitlines(keepends=True)
    tampered = "".join([lines[1].replace(" 1", " 0"), lines[0].replace(" 0", " 1"), *lines[2:]]).encode()  # still loads
    with local_server({"/c.txt": serve_bytes(tampered)}) as base:
        with pytest.raises(
            manifest.HashMismatch, match=r"categories_places365.txt .* published sha256 is 2affba63.*refused"
        ):
            installer.download("categories_places365", tmp_path, policy=FAST, urls=[f"{base}/c.txt"])
    assert not (tmp_path / "categories_places365.txt").exists() and leftovers(tmp_path) == []
    assert "categories_places365.txt" not in manifest.read_manifest(tmp_path)


def test_a_bad_copy_on_the_mirror_falls_back_to_the_good_public_file(tmp_path, release_dir, monkeypatch):
    good = (release_dir / "labels_sunattribute.txt").read_bytes()
    routes = {
        "/m/labels_sunattribute.txt": serve_bytes(good.replace(b"boating", b"boatinG")),
        "/p/l.txt": serve_bytes(good),
    }
    with local_server(routes) as base:
        spec = catalogue.asset_spec("labels_sunattribute")
        monkeypatch.setitem(catalogue.ASSETS, spec.name, dataclasses.replace(spec, urls=(f"{base}/p/l.txt",)))
        installer.download(spec.name, tmp_path, policy=FAST, mirror=f"{base}/m")
    assert (tmp_path / "labels_sunattribute.txt").read_bytes() == good


def test_a_file_without_a_published_hash_is_pinned_by_its_first_install(tmp_path, release_dir):
    first = (release_dir / "resnet18_places365.pth.tar").read_bytes()
    other = tmp_path / "other.pth.tar"
    write_places_checkpoint(other, seed=5)  # a valid checkpoint, but not the one installed first
    models = tmp_path / "models"
    with local_server({"/first": serve_bytes(first), "/other": serve_bytes(other.read_bytes())}) as base:
        installer.download("resnet18_places365", models, policy=FAST, urls=[f"{base}/first"])
        with pytest.raises(manifest.HashMismatch, match=r"copy first installed here .* refused, nothing installed"):
            installer.download("resnet18_places365", models, policy=FAST, urls=[f"{base}/other"])
        installer.download(
            "resnet18_places365", models, policy=FAST, urls=[f"{base}/first"]
        )  # the same bytes again: fine
    assert (models / "resnet18_places365.pth.tar").read_bytes() == first


def test_a_trained_head_is_not_pinned_so_a_retrained_one_replaces_it(tmp_path, attribute_checkpoint_file):
    models = tmp_path / "models"
    installer.install_from_dir("densenet201_sunattributes", models, attribute_checkpoint_file.parent)
    retrained = tmp_path / "retrained"
    retrained.mkdir()
    checkpoint = torch.load(attribute_checkpoint_file, weights_only=True)
    checkpoint["metrics"] = {"test_map": 0.6}
    torch.save(checkpoint, retrained / attribute_checkpoint_file.name)
    installer.install_from_dir("densenet201_sunattributes", models, retrained)
    installed = manifest.sha256_of(models / attribute_checkpoint_file.name)
    assert installed == manifest.sha256_of(retrained / attribute_checkpoint_file.name)


# -- two installers at once, and disks that refuse ---------------------------------------------


def test_installers_running_at_once_lose_no_manifest_entry(tmp_path, monkeypatch):
    source = tmp_path / "source"
    source.mkdir()
    names = [f"file{i}" for i in range(48)]
    for name in names:
        (source / f"{name}.bin").write_bytes(name.encode())
        test_file = catalogue.AssetSpec(name=name, filename=f"{name}.bin", urls=(), reader="io_labels", description="")
        monkeypatch.setitem(catalogue.ASSETS, name, test_file)
    monkeypatch.setattr(installer, "validate", lambda spec, path: None)  # the manifest is under test, not the loaders
    models = tmp_path / "models"
    errors = []

    def install(share):
        try:
            for name in share:
                installer.install_from_dir(name, models, source)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=install, args=(names[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    manifest = json.loads((models / "manifest.json").read_text())
    assert sorted(manifest) == sorted(f"{name}.bin" for name in names)


@pytest.mark.parametrize(
    ("code", "words"), [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the file system is read-only")]
)
def test_a_full_or_read_only_disk_is_one_clear_message_naming_the_folder(
    tmp_path, release_dir, monkeypatch, code, words
):
    def refuse(*args, **kwargs):
        raise OSError(code, "refused by the test")

    monkeypatch.setattr(shutil, "copyfile", refuse)
    with pytest.raises(installer.ModelsDirUnwritable) as caught:
        installer.install_from_dir("labels_sunattribute", tmp_path / "models", release_dir)
    assert f"Cannot write model files into {(tmp_path / 'models').resolve()}: {words}" in caught.value.message
    assert "fetch_models" in caught.value.message
    assert not (tmp_path / "models" / "labels_sunattribute.txt").exists() and leftovers(tmp_path / "models") == []


def test_a_disk_that_fills_up_while_installing_keeps_the_old_file_and_manifest(tmp_path, release_dir, monkeypatch):
    models = tmp_path / "models"
    installer.install_from_dir("labels_sunattribute", models, release_dir)
    before = (models / "manifest.json").read_text()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(installer.ModelsDirUnwritable, match="the disk is full"):
        installer.install_from_dir("io_places365", models, release_dir)
    assert (models / "manifest.json").read_text() == before
    assert not (models / "IO_places365.txt").exists()
    assert leftovers(models) == [] and not (models / "manifest.json.part").exists()


def test_the_models_doc_names_every_downloadable_file_without_a_published_hash():
    from classifier.testing.paths import REPO

    files = (REPO / "docs" / "models.md").read_text()
    assert "CSAIL publishes no hash for its checkpoints" in files
    unhashed = [s.filename for s in catalogue.ASSETS.values() if s.pinned_by_manifest and not s.sha256]
    assert unhashed and all(f"`{name}`" in files for name in unhashed)
