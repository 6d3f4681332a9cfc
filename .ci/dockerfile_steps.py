"""Run the Dockerfile's build and start steps without Docker: its RUN lines in a clean venv, in a
copy of the repository made as `COPY . .` would (honouring .dockerignore), then its CMD, probed
with its own HEALTHCHECK command. Read from the Dockerfile itself, so CI and the image cannot drift.

What differs from an image build, and why:
- `--build-arg NAME=VALUE` overrides an ARG (CI points TORCH_INDEX at PyPI: the CPU wheel index
  is unreachable there);
- PIP_NO_CACHE_DIR is left out, so pip reuses the wheels CI's own install just cached;
- RUN lines that create the system user are skipped (an image build runs them as root);
- the models volume is a folder of random-weight checkpoints, and the server binds 127.0.0.1.

    .venv/bin/python .ci/dockerfile_steps.py [--build-arg TORCH_INDEX=https://pypi.org/simple/]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYSTEM_SETUP = ("groupadd", "useradd")
LEFT_OUT_ENV = {"PIP_NO_CACHE_DIR"}
HEALTHY_WITHIN_S = 180


@dataclass
class Dockerfile:
    shell: list[str] = field(default_factory=lambda: ["/bin/sh", "-c"])
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) pairs, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined]


def parse(text: str) -> Dockerfile:
    dockerfile = Dockerfile()
    for instruction, rest in instructions(text):
        if instruction == "SHELL":
            dockerfile.shell = json.loads(rest)
        elif instruction == "ENV":
            dockerfile.env.update(pair.split("=", 1) for pair in shlex.split(rest))
        elif instruction == "ARG":
            name, _, default = rest.partition("=")
            dockerfile.args[name] = default
        elif instruction == "RUN":
            dockerfile.runs.append(rest)
        elif instruction == "HEALTHCHECK":
            dockerfile.healthcheck = json.loads(rest.split(" CMD ", 1)[1])
        elif instruction == "CMD":
            dockerfile.cmd = json.loads(rest)
    return dockerfile


def docker_ignored(patterns: list[str]):
    """A copytree `ignore` callback for .dockerignore's patterns (globs, `**/`, `!` exceptions)."""

    def ignored(relative: str) -> bool:
        result = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").strip("/")
            base = pattern.removeprefix("**/")
            if fnmatch.fnmatch(relative, pattern) or (base != pattern and fnmatch.fnmatch(Path(relative).name, base)):
                result = not negate
        return result

    def ignore(directory: str, names: list[str]) -> set[str]:
        prefix = Path(directory).relative_to(REPO)
        return {name for name in names if ignored(str(prefix / name).removeprefix("./"))}

    return ignore


def build_context(target: Path) -> Path:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    shutil.copytree(REPO, target, ignore=docker_ignored(patterns), symlinks=True)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def step(title: str) -> None:
    print(f"--- {title}", flush=True)


def run_steps(dockerfile: Dockerfile, build_args: dict[str, str], work: Path) -> None:
    app = build_context(work / "app")
    venv = work / "venv"
    step(f"clean venv {venv}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", *LEFT_OUT_ENV}}
    env |= {k: v for k, v in dockerfile.env.items() if k not in LEFT_OUT_ENV}
    env |= dockerfile.args | build_args
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    for command in dockerfile.runs:
        if command.split()[0] in SYSTEM_SETUP:
            step(f"skip (system user setup): {command}")
            continue
        step(f"RUN {command}")
        subprocess.run([*dockerfile.shell, command], cwd=app, env=env, check=True)

    sys.path.insert(0, str(REPO))
    from classifier.testing.checkpoints import write_models_dir

    volume = work / "volume"
    volume.mkdir()
    env["SCENEWEB_MODELS_DIR"] = str(write_models_dir(volume, attributes=False))
    env["SCENEWEB_BIND"] = f"127.0.0.1:{free_port()}"
    step(f"CMD {shlex.join(dockerfile.cmd)} on {env['SCENEWEB_BIND']}, models {env['SCENEWEB_MODELS_DIR']}")
    server = subprocess.Popen(dockerfile.cmd, cwd=app, env=env, start_new_session=True)
    try:
        wait_until_healthy(dockerfile.healthcheck, app, env, server)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
    if code != 0:
        raise SystemExit(f"the server exited with {code} after SIGTERM")
    step("the Dockerfile's steps passed: installed, started, healthy, stopped cleanly")


def wait_until_healthy(healthcheck: list[str], app: Path, env: dict[str, str], server: subprocess.Popen) -> None:
    step(f"HEALTHCHECK {shlex.join(healthcheck)}")
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was healthy")
        probe = subprocess.run(healthcheck, cwd=app, env=env, capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            step("healthy")
            return
        time.sleep(2)
    raise SystemExit(f"the health check did not pass within {HEALTHY_WITHIN_S} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    options = parser.parse_args()
    build_args = dict(arg.split("=", 1) for arg in options.build_arg)
    dockerfile = parse((REPO / "Dockerfile").read_text())
    unknown = set(build_args) - set(dockerfile.args)
    if unknown:
        raise SystemExit(f"the Dockerfile has no ARG {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="sceneweb-dockerfile-") as work:
        run_steps(dockerfile, build_args, Path(work))


if __name__ == "__main__":
    main()
