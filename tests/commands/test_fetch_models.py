import json

import pytest
from django.core.management import CommandError, call_command

from classifier.engine import assets


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
    assert set(manifest) == {assets.asset_spec(n).filename for n in assets.DEFAULT_ASSETS}
    again = run("--from", str(release_dir))
    assert again.count("skipped") == 4


def test_check_fails_and_says_what_is_missing(tmp_path, use_models):
    use_models(tmp_path)
    with pytest.raises(CommandError, match="fetch_models"):
        run("--check")


def test_it_downloads_from_the_public_addresses(tmp_path, use_models, release_dir, monkeypatch):
    from tests.httpserver import local_server, serve_bytes

    routes = {
        f"/{spec.filename}": serve_bytes((release_dir / spec.filename).read_bytes())
        for spec in map(assets.asset_spec, assets.DEFAULT_ASSETS)
    }
    with local_server(routes) as base:
        for name, spec in assets.ASSETS.items():
            monkeypatch.setitem(
                assets.ASSETS, name, assets.AssetSpec(**{**spec.__dict__, "url": f"{base}/{spec.filename}"})
            )
        use_models(tmp_path)
        output = run("--verbosity", "0")
    assert output.count("fetched") == 4 and output.count("ok ") == 4


def test_it_installs_sample_photos_from_a_folder(tmp_path, use_models, release_dir, settings, sample_photos):
    use_models(tmp_path / "models")
    settings.SCENEWEB_SAMPLES_DIR = tmp_path / "samples"
    output = run("--from", str(release_dir), "--samples-from", str(sample_photos[0].parent))
    assert f"{len(sample_photos)} photos copied" in output
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == sorted(p.name for p in sample_photos)
