"""The reference every mode is checked against (the plain eval-mode network, "eager"; the
comparison is tests/support/analysis.py), and the parallel analyzer. Both are built once for
the whole package.
"""

import pytest

from classifier.engine.acceleration import InferenceSettings
from classifier.engine.analyzer import SceneAnalyzer


@pytest.fixture(scope="package")
def reference(full_models_dir):
    return SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(mode="eager"))


@pytest.fixture(scope="package")
def parallel(full_models_dir):
    return SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(parallel=True))
