"""`analyze --out`: folders with everything a real folder holds, chunks, resume after SIGKILL, workers."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from classifier.collection.local import BATCH, batch_size
from classifier.collection.table import read_rows
from classifier.engine.analyzer import SceneAnalyzer
from classifier.testing.paths import REPO
from tests.support.httpserver import local_server, serve_bytes
from tests.support.photo_collections import assert_same_rows, photo_folder


def analyze(*args) -> str:
    out = io.StringIO()
    call_command("analyze", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {Path(row["source"]).name: row for row in rows}


def test_a_folder_with_broken_files_gives_each_photo_a_row_and_says_why_some_failed(
    use_models, fresh_models_dir, tmp_path
):
    use_models(fresh_models_dir)
    folder = photo_folder(tmp_path / "holiday", 2)
    real = next(folder.iterdir()).read_bytes()
    (folder / "truncated.jpg").write_bytes(real[:300])
    (folder / "notes.jpg").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    (folder / "camera-export.dat").write_bytes(real)  # a JPEG by content, whatever its name
    (folder / "readme.txt").write_text("a text file is not part of the collection")
    (folder / "deeper").mkdir()
    (folder / "deeper" / "again.jpg").write_bytes(real)
    output = analyze(folder, "--out", tmp_path / "t.parquet", "--workers", 1)
    rows = by_name(read_rows(tmp_path / "t.parquet"))
    assert sorted(rows) == sorted(
        [
            "0000-buildings.jpg",
            "0001-forest.jpg",
            "truncated.jpg",
            "notes.jpg",
            "empty.png",
            "camera-export.dat",
            "again.jpg",
        ]
    )
    assert rows["truncated.jpg"]["error_code"] == "corrupt_image"
    assert rows["notes.jpg"]["error_code"] == "unsupported_format"
    assert rows["empty.png"]["error_code"] == "empty_file"
    assert rows["camera-export.dat"]["error_code"] is None and len(rows["camera-export.dat"]["scene_labels"]) == 5
    assert rows["again.jpg"]["sha256"] == rows["camera-export.dat"]["sha256"]
    assert "4 analysed, 3 failed (corrupt_image 1, empty_file 1, unsupported_format 1), 0 skipped by --resume" in output
    assert "photos/s" in output


def test_heatmaps_are_files_the_table_names_and_are_not_computed_without_a_heatmap_dir(
    use_models, fresh_models_dir, tmp_path, monkeypatch
):
    use_models(fresh_models_dir)
    folder = photo_folder(tmp_path / "photos", 3)
    heatmaps = tmp_path / "heatmaps"
    heatmaps.mkdir()
    analyze(folder, "--out", tmp_path / "drawn.parquet", "--heatmap-dir", heatmaps, "--workers", 2)
    rows = read_rows(tmp_path / "drawn.parquet")
    for row in rows:
        heatmap = Path(row["heatmap"])
        assert heatmap.parent == heatmaps and heatmap.name == f"{Path(row['source']).stem}_{row['sha256'][:12]}_cam.png"
        assert Image.open(heatmap).format == "PNG"
    assert sorted(p.name for p in heatmaps.iterdir()) == sorted(Path(r["heatmap"]).name for r in rows)

    grids = []
    original = SceneAnalyzer._heatmap
    monkeypatch.setattr(SceneAnalyzer, "_heatmap", lambda self, *a: grids.append(1) or original(self, *a))
    analyze(folder, "--out", tmp_path / "plain.parquet", "--workers", 1)
    plain = read_rows(tmp_path / "plain.parquet")
    assert grids == [] and [r["heatmap"] for r in plain] == [None] * 3
    assert [r["scene_labels"] for r in plain] == [r["scene_labels"] for r in rows]


def test_symlink_loops_and_unreadable_entries_are_rows_never_the_end_of_the_run(use_models, fresh_models_dir, tmp_path):
    use_models(fresh_models_dir)
    folder = photo_folder(tmp_path / "photos", 1)
    (folder / "sub").mkdir()
    (folder / "sub" / "back-up").symlink_to(folder)  # a loop through the tree
    (folder / "self.jpg").symlink_to(folder / "self.jpg")  # a loop of one link
    (folder / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")  # dangling
    (folder / "zeros.jpg").symlink_to("/dev/zero")  # endless bytes
    os.mkfifo(folder / "pipe.jpg")  # opening it to read would block forever
    analyze(folder, "--out", tmp_path / "t.jsonl", "--workers", 1)
    rows = by_name(read_rows(tmp_path / "t.jsonl"))
    assert rows["0000-buildings.jpg"]["error_code"] is None
    assert rows["back-up"]["error_code"] == "symlink_loop"
    assert rows["self.jpg"]["error_code"] == "symlink_loop"
    assert rows["gone.jpg"]["error_code"] == "unreadable"
    assert "dangling" in rows["gone.jpg"]["error_message"]
    assert rows["zeros.jpg"]["error_code"] == "not_regular_file"
    assert rows["pipe.jpg"]["error_code"] == "not_regular_file"


def test_a_refused_url_is_a_row_and_a_served_one_is_resumed_by_its_content(
    use_models, fresh_models_dir, tmp_path, settings
):
    use_models(fresh_models_dir)
    settings.SCENEWEB_ALLOW_PRIVATE_URLS = True  # only loopback is let through: the metadata address stays refused
    photo = next(photo_folder(tmp_path / "photos", 1).iterdir()).read_bytes()
    with local_server({"/photo.jpg": serve_bytes(photo, "image/jpeg")}) as base:
        listing = tmp_path / "urls.txt"
        listing.write_text(f"# photos on the web\nhttp://169.254.169.254/latest/meta-data/\n{base}/photo.jpg\n\n")
        analyze("--list", listing, "--out", tmp_path / "t.csv", "--workers", 1)
        resumed = analyze("--list", listing, "--out", tmp_path / "t.csv", "--workers", 1, "--resume")
    rows = {row["source"]: row for row in read_rows(tmp_path / "t.csv")}
    assert len(rows) == 2
    refused = rows["http://169.254.169.254/latest/meta-data/"]
    assert refused["error_code"] == "address_link_local"
    served = rows[f"{base}/photo.jpg"]
    assert served["error_code"] is None and served["bytes"] == len(photo)
    # the refused address is not asked again; the photo is fetched, and skipped by its content
    assert "0 analysed, 0 failed (none), 2 skipped by --resume" in resumed


def test_rows_are_written_in_chunks_of_the_size_asked(use_models, fresh_models_dir, tmp_path):
    use_models(fresh_models_dir)
    folder = photo_folder(tmp_path / "photos", 5)
    analyze(folder, "--out", tmp_path / "t.parquet", "--chunk-rows", 2, "--workers", 1)
    import pyarrow.parquet as pq

    parts = sorted((tmp_path / "t.parquet").glob("part-*.parquet"))
    assert [pq.read_metadata(p).num_rows for p in parts] == [2, 2, 1]
    assert len(read_rows(tmp_path / "t.parquet")) == 5


def test_workers_get_equal_batches_when_the_sources_are_few():
    assert batch_size(20, 2) == 10
    assert batch_size(21, 2) == 11
    assert batch_size(1, 2) == 1
    assert batch_size(10_000, 2) == BATCH


def test_a_run_killed_with_sigkill_and_resumed_gives_the_rows_of_an_uninterrupted_run(
    use_models, fresh_models_dir, tmp_path, settings
):
    settings.SCENEWEB_INFERENCE_MODE = "fused"  # fp32 in every process: "auto" may choose by the machine
    count = 2 * BATCH + 8  # a third batch still to come when the first two are written
    folder = photo_folder(tmp_path / "photos", count)
    killed = tmp_path / "killed.parquet"
    env = {
        **os.environ,
        "SCENEWEB_MODELS_DIR": str(fresh_models_dir),
        "SCENEWEB_TORCH_THREADS": "1",
        "SCENEWEB_INFERENCE_MODE": "fused",
    }
    command = [
        sys.executable,
        "manage.py",
        "analyze",
        str(folder),
        "--out",
        str(killed),
        "--chunk-rows",
        "2",
        "--workers",
        "2",
        "-v",
        "0",
    ]
    process = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True, stderr=subprocess.PIPE)
    try:
        while len(list(killed.glob("part-*.parquet"))) < 2 and process.poll() is None:
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
    written = len(read_rows(killed))
    assert 4 <= written < count
    use_models(fresh_models_dir)
    output = analyze(folder, "--out", killed, "--resume", "--workers", 1)
    assert f"{count - written} analysed" in output and f"{written} skipped by --resume" in output
    analyze(folder, "--out", tmp_path / "whole.parquet", "--workers", 1)
    assert_same_rows(read_rows(killed), read_rows(tmp_path / "whole.parquet"))


def test_two_worker_processes_write_the_rows_of_one(use_models, fresh_models_dir, tmp_path, settings):
    settings.SCENEWEB_INFERENCE_MODE = "fused"  # fp32 at any thread count
    use_models(fresh_models_dir)
    folder = photo_folder(tmp_path / "photos", 6)
    analyze(folder, "--out", tmp_path / "one.jsonl", "--workers", 1)
    analyze(folder, "--out", tmp_path / "two.jsonl", "--workers", 2)
    assert_same_rows(read_rows(tmp_path / "two.jsonl"), read_rows(tmp_path / "one.jsonl"))
    assert [r["source"] for r in read_rows(tmp_path / "two.jsonl")] == [
        r["source"] for r in read_rows(tmp_path / "one.jsonl")
    ]


def test_a_table_of_another_model_set_or_schema_is_refused_not_mixed(
    use_models, fresh_models_dir, models_dir, tmp_path
):
    folder = photo_folder(tmp_path / "photos", 1)
    table = tmp_path / "t.jsonl"
    use_models(fresh_models_dir)
    analyze(folder, "--out", table, "--workers", 1)
    with pytest.raises(CommandError, match="already holds 1 rows: add --resume"):
        analyze(folder, "--out", table)
    use_models(models_dir)  # no attribute model: another model set
    with pytest.raises(CommandError, match="another set of models"):
        analyze(folder, "--out", table, "--resume")
    table.write_text(table.read_text().replace('"schema_version": 1', '"schema_version": 0'))
    use_models(fresh_models_dir)
    with pytest.raises(CommandError, match="schema version"):
        analyze(folder, "--out", table, "--resume")


def test_a_line_torn_by_a_kill_is_cut_off_when_the_table_is_continued(use_models, fresh_models_dir, tmp_path):
    use_models(fresh_models_dir)
    folder = photo_folder(tmp_path / "photos", 2)
    table = tmp_path / "t.jsonl"
    analyze(folder, "--out", table, "--workers", 1)
    lines = table.read_text().splitlines(keepends=True)
    table.write_text(lines[0] + lines[1][: len(lines[1]) // 2])  # the second row half written
    output = analyze(folder, "--out", table, "--resume", "--workers", 1)
    assert "1 analysed" in output and "1 skipped" in output
    assert len(read_rows(table)) == 2
