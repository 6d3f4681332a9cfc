"""The package's shape: the import-linter contracts of pyproject.toml (layers, no Django in the
engine or the trainers, no production import of classifier.testing, no cycles between the
modules of a package), no module importing back the package that imports it, modules kept small.
"""

from __future__ import annotations

import grimp
from importlinter.cli import lint_imports

from classifier.testing.paths import REPO

MAX_MODULE_LINES = 400


def test_the_import_contracts_are_kept(capsys):
    broken = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True)
    assert broken == 0, capsys.readouterr().out


def test_no_module_imports_one_that_imports_it_back():
    """import-linter's acyclic_siblings compares siblings only; a module that imports its own package
    back (fetch/_addresses -> fetch -> fetch/_addresses), also lazily, is a cycle it does not see."""
    graph = grimp.build_graph("classifier", "sceneweb", cache_dir=None)
    cycles = sorted(
        f"{importer} -> {imported} -> ... -> {importer}"
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(imported, importer)
    )
    assert cycles == []


def test_no_module_is_over_the_size_limit():
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text().splitlines())
        for folder in ("classifier", "sceneweb")
        for path in (REPO / folder).rglob("*.py")
    }
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
