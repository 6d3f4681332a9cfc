"""The reference every mode is checked against, and the one comparison they must pass.

The reference is the plain eval-mode network ("eager"); the optimised paths must agree with it
on real photos to float rounding: same top-5, same attribute ranking, probabilities and CAM
grids within a small tolerance. The analyzers are built once for the whole package.
"""

import numpy as np
import pytest

from classifier.engine.acceleration import InferenceSettings
from classifier.engine.analyzer import SceneAnalyzer

TOLERANCE = 1e-4


@pytest.fixture(scope="package")
def reference(full_models_dir):
    return SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(mode="eager"))


@pytest.fixture(scope="package")
def parallel(full_models_dir):
    return SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(parallel=True))


def assert_same_analysis(candidate, expected):
    assert [s.index for s in candidate.scenes] == [s.index for s in expected.scenes]
    for got, want in zip(candidate.scenes, expected.scenes, strict=True):
        assert got.probability == pytest.approx(want.probability, abs=TOLERANCE)
    assert [a.label for a in candidate.attributes] == [a.label for a in expected.attributes]
    for got, want in zip(candidate.attributes, expected.attributes, strict=True):
        assert got.score == pytest.approx(want.score, abs=TOLERANCE)
    assert candidate.io == expected.io
    assert candidate.cam.index == expected.cam.index
    np.testing.assert_allclose(np.array(candidate.cam.grid), np.array(expected.cam.grid), atol=1e-3)
