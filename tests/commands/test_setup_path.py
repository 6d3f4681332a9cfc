"""The README's set-up path on a fresh machine, downloads served from 127.0.0.1: after it, the API
and `analyze` give all four outputs, the attributes from CSAIL's WideResNet-18 matrix.

The public addresses are pointed at a local server that has nothing (so nothing can reach the
internet), and SCENEWEB_MODELS_MIRROR at one that holds the release: the operator-mirror path.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import shlex
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from classifier.engine import catalogue, installer
from classifier.engine.installer import SAMPLE_URLS
from classifier.testing.paths import REPO
from tests.support.httpserver import local_server, serve_bytes
from tests.support.paths import shared_path

README = (REPO / "README.md").read_text()


def readme_setup_steps() -> list[list[str]]:
    """The `manage.py` steps of the README's install-and-serve command, in order, with their arguments."""
    block = re.search(r"^## Set up\n.*?```bash\n(.*?)\n```", README, re.MULTILINE | re.DOTALL)
    assert block, "README has no set-up command"
    steps = [shlex.split(step) for step in block.group(1).split("&&")]
    return [step[2:] for step in steps if step[1:2] == ["manage.py"]]


@pytest.mark.django_db
def test_the_readme_setup_gives_all_four_outputs_with_attributes_from_the_matrix(
    tmp_path, use_models, settings, matrix_release_dir, monkeypatch, client, photo_bytes
):
    steps = readme_setup_steps()
    assert [step[0] for step in steps] == ["fetch_models", "migrate", "collectstatic"]
    bucket = {f"/bucket/{item.name}": serve_bytes(item.read_bytes()) for item in matrix_release_dir.iterdir()}
    # the sample photos under their public names, as an operator's mirror holds them
    photos = sorted(shared_path("samples").glob("*.jpg"))
    bucket |= {
        f"/bucket/{Path(url).name}": serve_bytes(p.read_bytes()) for url, p in zip(SAMPLE_URLS, photos, strict=True)
    }
    with local_server({}) as nowhere, local_server(bucket) as base:
        for name, spec in catalogue.ASSETS.items():
            if spec.urls:
                monkeypatch.setitem(
                    catalogue.ASSETS, name, dataclasses.replace(spec, urls=(f"{nowhere}/{spec.filename}",))
                )
        monkeypatch.setattr(installer, "SAMPLE_URLS", tuple(f"{nowhere}/{Path(url).name}" for url in SAMPLE_URLS))
        settings.SCENEWEB_MODELS_MIRROR = f"{base}/bucket"
        settings.SCENEWEB_SAMPLES_DIR = tmp_path / "samples"
        use_models(tmp_path / "models")
        for command, *args in steps:
            call_command(command, *args, "--verbosity", "0", stdout=StringIO())
    assert len(list((tmp_path / "samples").glob("*.jpg"))) == len(SAMPLE_URLS)  # the gallery, from the mirror
    settings.SCENEWEB_RATE_LIMIT = 0

    upload = io.BytesIO(photo_bytes)
    upload.name = "photo.jpg"
    body = client.post("/api/analyze", {"image": upload}).json()
    assert len(body["scenes"]) == 5
    assert body["io"]["label"] in ("indoor", "outdoor")
    assert len(body["attributes"]) == 10 and body["attributes_note"] is None
    assert base64.b64decode(body["cam"]["png_base64"]).startswith(b"\x89PNG")
    assert body["models"]["attributes"]["source"] == "wideresnet18-linear"
    assert body["models"]["attributes"]["scores"].startswith("raw linear responses, not probabilities")

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photo_bytes)
    out = StringIO()
    call_command("analyze", str(photo), stdout=out)
    assert "(from wideresnet18-linear: CSAIL's linear SUN-attribute matrix" in out.getvalue()
    assert "scores are raw linear responses, not probabilities" in out.getvalue()
