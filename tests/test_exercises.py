"""Exercises: every solution cell follows the convention, and the student edition runs on."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ffjord_edu.exercises import SOLUTION_TAG, solution_names, stub_solution, student_edition

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def with_exercises() -> list[Path]:
    return [
        p
        for p in NOTEBOOKS
        if any(SOLUTION_TAG in tags(c) for c in nbformat.read(p, as_version=4).cells)
    ]


def test_stub_keeps_names_and_drops_the_work():
    source = "import math\nrate = math.log(2)\ndef area(r):\n    return math.pi * r * r\n"
    assert solution_names(source) == ["rate", "area"]
    assert stub_solution(source).splitlines()[1:] == ["rate = ...", "area = ..."]


def test_solution_cells_only_define_names():
    with pytest.raises(ValueError, match="line 2 is a For"):
        solution_names("total = 0\nfor i in range(3):\n    total += i\n")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_solution_is_followed_by_a_check(path):
    cells = nbformat.read(path, as_version=4).cells
    for index, cell in enumerate(cells):
        if SOLUTION_TAG in tags(cell):
            assert solution_names(cell.source), f"cell {index} of {path.name} defines nothing"
            following = next(c for c in cells[index + 1 :] if c.cell_type == "code")
            assert "check" in tags(following), f"cell {index} of {path.name} has no check cell"


@pytest.mark.parametrize("path", with_exercises(), ids=lambda p: p.stem)
def test_student_edition_runs_with_helpful_messages(path, monkeypatch):
    """With every solution replaced by `...`, the notebook still runs to the end."""
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "0")
    monkeypatch.setenv("FFJORD_EDU_FAST", "1")
    edition = student_edition(nbformat.read(path, as_version=4))
    NotebookClient(
        edition,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    checks = [c for c in edition.cells if "check" in tags(c)]
    assert checks
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "✋" in text, f"a check cell of {path.name} printed {text!r}"
        assert not any(o.output_type == "error" for o in cell.outputs)
