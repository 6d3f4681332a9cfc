import numpy as np
import pytest
import torch
from matplotlib import colormaps
from PIL import Image

from classifier.engine import cam


def planted_features(row: int, col: int, channels: int = 8) -> torch.Tensor:
    features = torch.rand(channels, 7, 7) * 0.1
    features[2, row, col] = 5.0
    return features


@pytest.mark.parametrize(("row", "col"), [(0, 0), (0, 6), (6, 0), (6, 6)])
def test_a_feature_planted_in_a_corner_makes_the_cam_peak_there(row, col):
    weights = torch.zeros(8)
    weights[2] = 1.0
    grid = cam.class_activation_map(planted_features(row, col), weights)
    assert grid.shape == (7, 7)
    assert np.unravel_index(grid.argmax(), grid.shape) == (row, col)
    heat = cam.upsample(grid, (640, 480))
    assert heat.shape == (480, 640)
    peak_y, peak_x = np.unravel_index(heat.argmax(), heat.shape)
    assert (peak_y < 240) == (row == 0)
    assert (peak_x < 320) == (col == 0)
    # The far corner is cold.
    assert heat[479 - peak_y if row == 0 else 0, 639 - peak_x if col == 0 else 0] < 0.2


def test_a_class_that_ignores_the_feature_does_not_peak_there():
    weights = torch.zeros(8)
    weights[2] = -1.0
    grid = cam.class_activation_map(planted_features(0, 0), weights)
    assert grid[0, 0] == 0.0


def test_the_cam_is_min_max_normalised_and_a_flat_map_is_zero():
    grid = cam.class_activation_map(torch.randn(4, 7, 7), torch.randn(4))
    assert grid.min() == pytest.approx(0.0) and grid.max() == pytest.approx(1.0)
    assert not cam.class_activation_map(torch.ones(4, 7, 7), torch.ones(4)).any()


def test_it_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="need features"):
        cam.class_activation_map(torch.ones(4, 7, 7), torch.ones(5))


def test_the_overlay_is_red_where_the_map_is_hot_and_blue_where_it_is_cold():
    grid = np.zeros((7, 7), dtype=np.float32)
    grid[0, 0] = 1.0
    photo = Image.new("RGB", (700, 700), (128, 128, 128))
    overlay = cam.render_overlay(photo, grid, alpha=1.0, max_side=None)
    assert overlay.size == (700, 700)
    hot = overlay.getpixel((5, 5))
    cold = overlay.getpixel((690, 690))
    assert hot[0] > 100 and hot[2] < 50  # jet at 1.0 is dark red
    assert cold[2] > 100 and cold[0] < 50  # jet at 0.0 is dark blue


def test_the_overlay_is_downscaled_for_display_and_blends_by_alpha():
    photo = Image.new("RGB", (2000, 1000), (0, 255, 0))
    grid = np.zeros((7, 7), dtype=np.float32)
    overlay = cam.render_overlay(photo, grid, alpha=0.0, max_side=512)
    assert overlay.size == (512, 256)
    assert overlay.getpixel((10, 10)) == (0, 255, 0)
    with pytest.raises(ValueError):
        cam.render_overlay(photo, grid, alpha=1.5)


def test_colorize_gives_the_jet_colour_of_each_level_rounded_to_256():
    heat = np.linspace(0.0, 1.0, 300, dtype=np.float32).reshape(3, 100)
    expected = colormaps["jet"](np.rint(heat * 255) / 255)[..., :3] * 255
    colours = cam.colorize(heat)
    assert colours.shape == (3, 100, 3) and colours.dtype == np.uint8
    assert np.abs(colours.astype(float) - expected).max() <= 1.0


def test_the_overlay_leaves_the_photo_as_it_was_and_takes_grey_photos_too():
    photo = Image.fromarray(np.random.default_rng(7).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    before = np.asarray(photo).copy()
    grid = np.ones((7, 7), dtype=np.float32)
    overlay = cam.render_overlay(photo, grid, alpha=0.5, max_side=None)
    assert overlay is not photo and np.array_equal(np.asarray(photo), before)
    grey = cam.render_overlay(photo.convert("L"), grid, alpha=0.0, max_side=None)
    assert grey.mode == "RGB" and np.array_equal(np.asarray(grey), np.asarray(photo.convert("L").convert("RGB")))
