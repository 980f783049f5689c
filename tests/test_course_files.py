"""The course as files: one data accessor, the shared setup cell, the links, `notebooks DIR`."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
import types
from importlib import metadata
from pathlib import Path

import nbformat
import pytest

import ffjord_edu
from ffjord_edu import resources
from ffjord_edu.__main__ import main
from ffjord_edu.course.exercises import STUDENT_NOTE
from ffjord_edu.course.files import (
    SETUP_MARKER,
    course_notebooks,
    links_line,
    setup_cell_source,
    write_course,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def code_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_opens_with_the_same_setup_cell_and_its_links(path):
    cells = code_cells(path)
    assert cells[0].source == setup_cell_source()
    assert sum(SETUP_MARKER in c.source for c in cells) == 1
    title = nbformat.read(path, as_version=4).cells[0].source.split("\n")
    assert title[0].startswith("# ") and title[2] == links_line(path.name)


def test_sync_script_finds_nothing_to_change():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def run_setup_cell(monkeypatch, installed: bool, colab: bool) -> tuple[list, list]:
    """Execute the setup cell with pip and Colab replaced by recorders."""
    pip_calls, widget_calls = [], []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: real_find_spec(name, *a) if installed or name != "ffjord_edu" else None,
    )
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: pip_calls.append(command))
    if colab:
        output = types.SimpleNamespace(enable_custom_widget_manager=lambda: widget_calls.append(1))
        google = types.ModuleType("google")
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(output=output))
        google.colab = sys.modules["google.colab"]
    exec(compile(setup_cell_source(), "setup cell", "exec"), {})
    return pip_calls, widget_calls


def test_setup_cell_does_nothing_where_the_package_is_installed(monkeypatch):
    assert run_setup_cell(monkeypatch, installed=True, colab=False) == ([], [])


def test_setup_cell_installs_the_package_and_colab_widgets_where_missing(monkeypatch):
    pip_calls, widget_calls = run_setup_cell(monkeypatch, installed=False, colab=True)
    assert pip_calls == [[sys.executable, "-m", "pip", "install", "-q", resources.install_spec()]]
    assert widget_calls == [1]


def test_install_spec_and_links_come_from_the_one_declared_repository():
    declared = PYPROJECT["project"]["urls"]["Repository"]
    assert resources.repository_url() == declared
    assert resources.install_spec() == f"ffjord-edu @ git+{declared}"
    line = links_line("05_ffjord_2d.ipynb")
    owner_and_name = declared.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{owner_and_name}/blob/main/notebooks/05_" in line
    assert f"mybinder.org/v2/gh/{owner_and_name}/HEAD?labpath=notebooks%2F05_ffjord_2d" in line


def test_no_notebook_reads_a_path_relative_to_the_working_folder():
    for path in NOTEBOOKS:
        for cell in code_cells(path):
            for relative in ("../data", 'Path("..")', "pretrained_root()"):  # use data_path
                assert relative not in cell.source, f"{path.name} reads {relative}"


def test_data_path_finds_the_checkout_data_and_names_the_fix_when_missing():
    assert resources.data_root() == ROOT / "data"
    assert ffjord_edu.data_path("pretrained/toy/moons.pt") == ROOT / "data/pretrained/toy/moons.pt"
    with pytest.raises(FileNotFoundError, match=r"source checkout .*git checkout -- data/"):
        ffjord_edu.data_path("pretrained/toy/no-such.pt")


def test_ffjord_edu_data_overrides_and_a_missing_file_says_so(monkeypatch, tmp_path):
    (tmp_path / "tabular").mkdir()
    (tmp_path / "tabular" / "baselines.json").write_text("{}")
    monkeypatch.setenv("FFJORD_EDU_DATA", str(tmp_path))
    assert ffjord_edu.data_path("tabular/baselines.json") == tmp_path / "tabular/baselines.json"
    with pytest.raises(FileNotFoundError, match="Unset FFJORD_EDU_DATA"):
        ffjord_edu.data_path("regularization/runs.json")
    with pytest.raises(FileNotFoundError, match="FFJORD_EDU_DATA"):
        ffjord_edu.load_pretrained("toy/moons")


def test_the_notebooks_command_writes_the_course_and_keeps_a_students_work(tmp_path, capsys):
    assert main(["notebooks", str(tmp_path / "course")]) == 0
    written = sorted(p.name for p in (tmp_path / "course").glob("*.ipynb"))
    assert written == [p.name for p in NOTEBOOKS] == [p.name for p in course_notebooks()]
    mine = tmp_path / "course" / "05_ffjord_2d.ipynb"
    mine.write_text('{"my": "work"}')
    assert main(["notebooks", str(tmp_path / "course")]) == 1
    assert "--force" in capsys.readouterr().err
    assert json.loads(mine.read_text()) == {"my": "work"}
    assert main(["notebooks", str(tmp_path / "course"), "--force"]) == 0
    assert nbformat.read(mine, as_version=4).cells[0].source.startswith("# 05")


def test_the_student_edition_is_written_with_its_note(tmp_path):
    written = write_course(tmp_path, student=True)
    assert len(written) == len(NOTEBOOKS)
    first = nbformat.read(tmp_path / "05_ffjord_2d.ipynb", as_version=4)
    assert any(STUDENT_NOTE in cell.source for cell in first.cells)


def test_the_wheel_lists_every_subpackage_and_one_version():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "ffjord_edu").rglob("__init__.py")
    }
    assert found | {"ffjord_edu.data", "ffjord_edu.notebooks"} == listed
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert metadata.version("ffjord-edu") == ffjord_edu.__version__


def test_the_data_patterns_cover_every_file_in_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["ffjord_edu.data"]
    for path in (ROOT / "data").rglob("*"):
        if path.is_file():
            relative = path.relative_to(ROOT / "data")
            assert any(relative.match(p.removeprefix("**/")) for p in patterns), relative
