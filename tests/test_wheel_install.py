"""The pip route, as a student gets it: the wheel in a fresh virtual environment, the course
written with ``ffjord-edu notebooks DIR``, every notebook executed there, far from this checkout,
with Colab's ipywidgets 7.7.1.

The fresh environment gets ffjord_edu only from the wheel; torch and the other heavy dependencies
are borrowed from the test environment (appended to its path with a ``.pth`` file, after the
fresh site-packages, so the wheel and ipywidgets 7.7.1 come first).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COLAB_WIDGETS = ["ipywidgets==7.7.1", "widgetsnbextension~=3.6.0", "jupyterlab_widgets~=1.0"]
COLAB_WIDGETS += ["ipython_genutils"]
COURSE_FILES = sorted(
    str(p.relative_to(ROOT))
    for folder in ("data", "notebooks")
    for p in (ROOT / folder).rglob("*")
    if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
)
# Recorded inside every kernel: which files of the installed package's data/ a notebook opens.
RECORD_OPENS = textwrap.dedent(
    """
    import os, sys

    def _record(event, args):
        if event == "open" and isinstance(args[0], str) and "/ffjord_edu/data/" in args[0]:
            with open(os.environ["COURSE_OPEN_LOG"], "a") as log:
                log.write(args[0].split("/ffjord_edu/data/")[1] + "\\n")

    sys.addaudithook(_record)
    """
)
RUN_NOTEBOOK = textwrap.dedent(
    """
    import sys
    import nbformat
    from nbclient import NotebookClient

    path = sys.argv[1]
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    """
)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """``python -m build``: the sdist, and the wheel built from it (as publishing does)."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)])
    return out


@pytest.fixture(scope="module")
def student_env(dist, tmp_path_factory) -> dict:
    """A fresh venv holding the wheel and Colab's widgets; the rest borrowed, listed after them."""
    home = tmp_path_factory.mktemp("student")
    venv = home / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    wheel = next(dist.glob("*.whl"))
    run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel), *COLAB_WIDGETS])
    fresh = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    borrowed = sysconfig.get_paths()["purelib"]
    (Path(fresh.stdout.strip()) / "zz_borrowed_dependencies.pth").write_text(borrowed + "\n")
    ipython = home / "ipython"
    (ipython / "profile_default" / "startup").mkdir(parents=True)
    (ipython / "profile_default" / "startup" / "00-record-opens.py").write_text(RECORD_OPENS)
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "FFJORD_EDU_DATA", "VIRTUAL_ENV")
    }
    environment.update(
        FFJORD_EDU_FAST="1",
        FFJORD_EDU_STRICT_CHECKS="1",
        IPYTHONDIR=str(ipython),
        PATH=f"{venv / 'bin'}:{environment.get('PATH', '')}",
        COURSE_OPEN_LOG=str(home / "opened.txt"),
    )
    return {"home": home, "venv": venv, "python": str(python), "env": environment}


def python_in(student_env: dict, code: str, *args: str) -> str:
    """Run ``code`` with the fresh venv's Python, from its home folder (far from the checkout)."""
    command = [student_env["python"], "-c", code, *args]
    return run(command, cwd=student_env["home"], env=student_env["env"]).stdout


def test_wheel_and_sdist_carry_every_course_file(dist):
    wheel = next(dist.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {f"ffjord_edu/{name}" for name in COURSE_FILES} <= names
    sdist = next(dist.glob("*.tar.gz"))
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    assert set(COURSE_FILES) <= names


def test_metadata_passes_twine_check(dist):
    result = run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())])
    assert result.stdout.count("PASSED") == 2


def test_the_installed_package_comes_from_the_wheel_with_colab_widgets(student_env):
    probe = (
        "import ffjord_edu, ipywidgets; from ffjord_edu.viz import player; "
        "print(ffjord_edu.__file__, ipywidgets.__version__, player.HAS_STACK)"
    )
    output = python_in(student_env, probe)
    where, version, has_stack = output.split()
    assert where.startswith(str(student_env["venv"])) and not where.startswith(str(ROOT))
    assert (version, has_stack) == ("7.7.1", "False")


def test_load_pretrained_works_from_an_unrelated_folder(student_env):
    probe = (
        "import ffjord_edu, torch; flow = ffjord_edu.load_pretrained('toy/8gaussians'); "
        "x = torch.zeros(3, 2); print(flow.log_prob(x).shape, ffjord_edu.data_path('README.md'))"
    )
    output = python_in(student_env, probe)
    shape, readme = output.rsplit(" ", 1)
    assert shape.strip() == "torch.Size([3])" and readme.startswith(str(student_env["venv"]))


def test_players_page_through_their_frames_on_ipywidgets_7(student_env):
    probe = textwrap.dedent(
        """
        from ffjord_edu.viz import FramePlayer, render_frames
        frames = render_frames(lambda i, ax: ax.set_title(str(i)), 3, size=(1, 1), dpi=20)
        player = FramePlayer(frames, ["a", "b", "c"])
        for k in (2, 1):
            player.slider.value = k
            assert player.image.value == frames[k] and player.label.value == "abc"[k], k
        print("paged")
        """
    )
    output = python_in(student_env, probe)
    assert output.strip() == "paged"


@pytest.fixture(scope="module")
def course_run(student_env) -> dict[str, str]:
    """``ffjord-edu notebooks DIR``, then every notebook executed in DIR: name -> error ('' if none)."""
    course = student_env["home"] / "my course"
    run(["ffjord-edu", "notebooks", str(course)], cwd=student_env["home"], env=student_env["env"])
    errors = {}
    for notebook in sorted(course.glob("*.ipynb")):
        result = subprocess.run(
            [student_env["python"], "-c", RUN_NOTEBOOK, notebook.name],
            cwd=course,
            env=student_env["env"],
            capture_output=True,
            text=True,
        )
        errors[notebook.name] = "" if result.returncode == 0 else result.stderr[-3000:]
    return errors


def test_every_notebook_runs_from_the_wheel_in_another_folder(course_run):
    assert sorted(course_run) == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    failed = {name: error for name, error in course_run.items() if error}
    assert not failed, json.dumps(failed, indent=1)


def test_notebooks_read_their_data_from_the_wheel_and_fail_without_it(course_run, student_env):
    opened = set((student_env["home"] / "opened.txt").read_text().split())
    assert {"pretrained/toy/8gaussians.pt", "tabular/baselines.json"} <= opened
    assert opened <= {name.removeprefix("data/") for name in COURSE_FILES}
    # Each of those files, taken out of the installed package, stops the accessor with the fix.
    probe = textwrap.dedent(
        """
        import sys
        from ffjord_edu import data_path, resources
        root = resources.data_root()
        for name in sys.argv[1:]:
            hidden = (root / name).rename(root / (name + ".hidden"))
            try:
                data_path(name)
            except FileNotFoundError as error:
                assert "installed package" in str(error) and "pip install" in str(error), error
            else:
                raise AssertionError(f"{name} was read although it is gone")
            finally:
                hidden.rename(root / name)
        print(len(sys.argv) - 1)
        """
    )
    assert int(python_in(student_env, probe, *sorted(opened))) == len(opened)
