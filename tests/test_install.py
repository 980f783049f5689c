"""The install story: the two dependency lists agree, and `make lab` serves JupyterLab."""

import os
import re
import secrets
import signal
import socket
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch", "python-build": "build"}  # conda-forge name -> PyPI name


def requirement(text: str) -> tuple[str, str]:
    """Split 'name>=1.0' into ('name', '>=1.0'), with the name normalised."""
    name, spec = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", text.strip()).groups()
    name = name.lower().replace("_", "-")
    return CONDA_NAMES.get(name, name), spec.replace(" ", "")


def pyproject_requirements() -> set[tuple[str, str]]:
    """Everything `make install` asks for (the package with its lab and test extras); where a
    package is listed twice (ipywidgets: 7.7 for Colab, 8 for JupyterLab 4) the later one wins."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    listed = project["dependencies"] + extras["lab"] + extras["test"]
    return set(dict(requirement(line) for line in listed if "[" not in line).items())


def conda_requirements() -> set[tuple[str, str]]:
    """The conda packages of environment.yml (not python, pip, or the pip: section)."""
    names = set()
    dependencies = (ROOT / "environment.yml").read_text().split("dependencies:")[1]
    for line in dependencies.splitlines():
        match = re.match(r"^  - ([^:#]+)$", line)
        if match:
            names.add(requirement(match.group(1)))
    return {(name, spec) for name, spec in names if name not in ("python", "pip")}


def test_environment_yml_matches_pyproject():
    assert conda_requirements() == pyproject_requirements()


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make lab" in first_block and "make test" in first_block


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_lab_serves_jupyterlab_on_localhost(tmp_path):
    port, token = free_port(), secrets.token_hex(8)
    arguments = (
        f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.token={token} "
        f"--allow-root --ServerApp.port_retries=0"
    )
    environment = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    server = subprocess.Popen(
        ["make", "lab", f"LAB_ARGS={arguments}"],
        cwd=ROOT,
        env=environment,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"`make lab` did not serve JupyterLab (exit code {server.poll()})")
                time.sleep(1)
        notebook = f"{base}/api/contents/notebooks/00_welcome.ipynb?token={token}&content=0"
        with urllib.request.urlopen(notebook, timeout=10) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10) as response:
            assert b"JupyterLab" in response.read()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_readme_library_example_runs():
    """The first Python block of the README is executed as written."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["samples"].shape == (1000, 2)
    assert namespace["flow"].nfe["forward"] > 0


def test_make_cpu_installs_the_cpu_only_torch_first():
    def planned(*variables: str) -> list[str]:
        dry_run = ["make", "-n", "-B", "install", *variables]
        return subprocess.run(dry_run, cwd=ROOT, capture_output=True, text=True).stdout.splitlines()

    with_cpu = planned("CPU=1")
    cpu_torch = next(i for i, line in enumerate(with_cpu) if "whl/cpu" in line)
    package = next(
        i for i, line in enumerate(with_cpu) if 'install --quiet -e ".[lab,test]"' in line
    )
    assert "install --quiet torch --index-url" in with_cpu[cpu_torch] and cpu_torch < package
    assert not any("whl/cpu" in line for line in planned())


def test_binder_builds_cpu_torch_then_the_package_with_jupyterlab():
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "whl/cpu" in requirements and re.search(r"^torch", requirements, re.M)
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK) and '-e ".[lab]"' in post_build.read_text()
