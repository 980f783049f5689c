"""Exercises: every solution cell follows the convention, and both editions do their job.

The full edition (solutions in place) passes every check under strict mode: that is the nbval
run of `make test`. Here: the student edition that `scripts/make_student.py` writes runs to the
end with every check saying "not solved yet", and stubs say what to write without the answer.
"""

import ast
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ffjord_edu.exercises import (
    SOLUTION_TAG,
    STUDENT_NOTE,
    Task,
    solution_names,
    solution_tasks,
    stub_solution,
    student_edition,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
LESSONS = [p for p in NOTEBOOKS if not p.name.startswith("00_")]  # 00 is the welcome page
MINIMUM_EXERCISES = 3


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def solution_cells(path: Path) -> list:
    return [c for c in nbformat.read(path, as_version=4).cells if SOLUTION_TAG in tags(c)]


def test_stub_keeps_names_and_tasks_and_drops_the_work():
    source = (
        "import math\n"
        "# the rate of halving, a float\n"
        "rate = math.log(2)\n"
        "def area(r: float) -> float:\n"
        '    """The area of a disc of radius r."""\n'
        "    return math.pi * r * r\n"
    )
    assert solution_names(source) == ["rate", "area"]
    assert solution_tasks(source) == [
        Task("rate", "the rate of halving, a float"),
        Task("area", "The area of a disc of radius r.", "def area(r: float) -> float:"),
    ]
    stub = stub_solution(source)
    assert "# the rate of halving, a float\nrate = ...\n" in stub
    assert 'def area(r: float) -> float:\n    """The area of a disc of radius r."""\n' in stub
    assert "    return ...  # your code" in stub
    assert "math.log" not in stub and "math.pi" not in stub
    compile(stub, "stub", "exec")  # a stub is valid Python


def test_stubbed_function_returns_ellipsis():
    namespace: dict = {}
    exec(stub_solution('def f(x):\n    """Twice x."""\n    return 2 * x\n'), namespace)
    assert namespace["f"](3) is Ellipsis


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


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_has_enough_exercises_that_say_what_to_write(path):
    cells = solution_cells(path)
    assert len(cells) >= MINIMUM_EXERCISES, f"{path.name} has {len(cells)} exercises"
    for cell in cells:
        for task in solution_tasks(cell.source):
            assert task.description, (
                f"{path.name}: `{task.name}` has no task description; give it a docstring or a "
                "comment line right above it, which the student edition keeps"
            )


@pytest.fixture(scope="module")
def student_folder(tmp_path_factory) -> Path:
    """The editions as `make student` writes them, into a fresh folder."""
    out = tmp_path_factory.mktemp("student")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_student.py"), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def test_make_student_writes_every_notebook_clean(student_folder):
    written = sorted((student_folder / "notebooks").glob("*.ipynb"))
    assert [p.name for p in written] == sorted(p.name for p in ROOT.glob("notebooks/*.ipynb"))
    assert not (student_folder / "data").exists()  # data comes from the package
    for path in written:
        edition = nbformat.read(path, as_version=4)
        assert not any(SOLUTION_TAG in tags(c) for c in edition.cells), path.name
        assert all(not c.get("outputs") for c in edition.cells if c.cell_type == "code")
        original = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
        stubs = [c.source for c in edition.cells if c.source.startswith("# Your turn")]
        assert len(stubs) == len(solution_cells(ROOT / "notebooks" / path.name))
        if stubs:
            assert STUDENT_NOTE in edition.cells[1].source
        # the answers do not leak: no line of a solution's code survives into its stub
        for solution, stub in zip(
            (c.source for c in original.cells if SOLUTION_TAG in tags(c)), stubs, strict=True
        ):
            stub_lines = {line.strip() for line in stub.splitlines()}
            leaked = [line for line in answer_lines(solution) if line in stub_lines]
            assert not leaked, f"{path.name}: the stub shows the answer line {leaked}"


def answer_lines(source: str) -> list[str]:
    """The code lines of a solution: assigned values and function bodies (not docstrings)."""
    pieces = []
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.FunctionDef):
            body = statement.body
            if ast.get_docstring(statement) is not None:
                body = body[1:]
            pieces += [ast.get_source_segment(source, s) for s in body]
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            pieces.append(ast.get_source_segment(source, statement.value))
    lines = [line.strip() for piece in pieces for line in piece.splitlines()]
    return [line for line in lines if len(line) > 3]


def test_student_edition_is_idempotent():
    notebook = nbformat.read(LESSONS[0], as_version=4)
    once = student_edition(notebook)
    assert student_edition(once).cells == once.cells


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if solution_cells(p)], ids=lambda p: p.stem)
def test_student_edition_runs_with_helpful_messages(path, student_folder, monkeypatch):
    """Executed from the folder `make student` wrote: no error anywhere, every check says ✋."""
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "0")
    monkeypatch.setenv("FFJORD_EDU_FAST", "1")
    edition_path = student_folder / "notebooks" / path.name
    edition = nbformat.read(edition_path, as_version=4)
    NotebookClient(
        edition,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(edition_path.parent)}},
    ).execute()
    errors = [o for c in edition.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{path.name}: {errors[0].ename}: {errors[0].evalue}"
    checks = [c for c in edition.cells if "check" in tags(c)]
    assert len(checks) == len(solution_cells(path))
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        verdicts = [line for line in text.splitlines() if line[:1] in ("✅", "❌", "✋")]
        assert verdicts, f"a check cell of {path.name} gave no verdict: {text!r}"
        assert all(v.startswith("✋") and "not solved yet" in v for v in verdicts), (
            f"a check cell of {path.name} printed {text!r}"
        )
        assert "Traceback" not in text
