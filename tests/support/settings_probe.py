"""Reading sceneweb's settings as a fresh process would, under an environment a test chooses.

Settings are read once per process from the environment, so a test of what an environment
variable does asks a new interpreter rather than reloading the module.
"""

from __future__ import annotations

import os
import subprocess
import sys

from classifier.testing.paths import REPO


def settings_output(code: str, environment: dict[str, str], *, drop: tuple[str, ...] = ("SCENEWEB_",)) -> str:
    """What `code` (run after `import sceneweb.settings as s`) prints, with the variables in `drop` unset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)} | environment
    probe = subprocess.run(
        [sys.executable, "-c", f"import sceneweb.settings as s; {code}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return probe.stdout
