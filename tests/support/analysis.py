"""The one comparison every inference mode must pass against the plain eval-mode network ("eager"):
on real photos, agreement to float rounding: same top-5, same attribute ranking, probabilities
and CAM grids within a small tolerance."""

import numpy as np
import pytest

TOLERANCE = 1e-4


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
