"""The package's shape: no import cycles, the engine knows no Django, production code never imports
classifier.testing, modules stay small.

grimp reads every import (also those inside functions), so a cycle hidden in a lazy import
counts too.
"""

from __future__ import annotations

import grimp
import pytest

from classifier.testing.paths import REPO

MAX_MODULE_LINES = 400


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("classifier", "sceneweb", include_external_packages=True, cache_dir=None)


def test_no_module_imports_one_that_imports_it_back(graph):
    cycles = sorted(
        f"{importer} -> {imported} -> ... -> {importer}"
        for importer in graph.modules
        if importer.startswith(("classifier", "sceneweb"))
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported.startswith(("classifier", "sceneweb")) and graph.chain_exists(imported, importer)
    )
    assert cycles == []


def test_the_engine_knows_no_django_and_no_web_layer(graph):
    engine = graph.find_descendants("classifier.engine") | {"classifier.engine"}
    leaks = sorted(
        f"{module} imports {imported}"
        for module in engine
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] in {"django", "dash", "django_plotly_dash", "sceneweb"}
        or (imported.startswith("classifier.") and not imported.startswith("classifier.engine"))
    )
    assert leaks == []


def test_no_production_module_imports_the_testing_helpers(graph):
    """classifier.testing writes random weights and starts servers for tests and bench/; serving
    code that reached it would be a test double in production."""
    testing = graph.find_descendants("classifier.testing") | {"classifier.testing"}
    importers = set().union(*(graph.find_modules_that_directly_import(module) for module in testing))
    assert sorted(importers - testing) == []


def test_no_module_is_over_the_size_limit():
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text().splitlines())
        for folder in ("classifier", "sceneweb")
        for path in (REPO / folder).rglob("*.py")
    }
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
