"""The README's Python example runs as written, on a fresh install's models folder."""

from __future__ import annotations

import re

from classifier.testing.paths import REPO

README = (REPO / "README.md").read_text()


def test_the_readme_python_example_runs_on_a_fresh_install(fresh_models_dir, sample_photos, capsys):
    example = re.search(r"```python\n(.*?)```", README, re.DOTALL).group(1)
    assert 'from_models_dir("models")' in example and 'Image.open("photo.jpg")' in example
    code = example.replace('"models"', repr(str(fresh_models_dir))).replace('"photo.jpg"', repr(str(sample_photos[0])))
    namespace: dict = {}

    exec(compile(code, "README.md", "exec"), namespace)

    analysis = namespace["analysis"]
    names = [a.label for a in analysis.attributes[:3]]
    assert len(names) == 3  # a fresh install scores attributes (CSAIL's matrix)
    assert capsys.readouterr().out == f"{analysis.scenes[0].label} {analysis.io.label} {names}\n"
