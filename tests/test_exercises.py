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

from ffjord_edu.course.exercises import (
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
        waiting = ("not solved yet", "commit to a prediction first")  # exercise, prediction
        assert all(v.startswith("✋") and any(w in v for w in waiting) for v in verdicts), (
            f"a check cell of {path.name} printed {text!r}"
        )
        assert "Traceback" not in text


# --- No answer in sight: what a check cell may not show ------------------------------------------
#
# A *check cell* is a code cell tagged `check` in the student edition. Its *truth arguments* are the
# arguments through which a checker receives the right answer: the second positional argument (or
# the keyword) of `check_close` (`expected`), `check_function` (`reference`), `check_log_density`
# (`parts`) and `check_time_direction` (`solve`). A check cell shows an expected value or a
# reference formula when a truth argument -- or, when it is a name that the same cell assigns or
# defines with `def`, that assignment's value or that function's body -- contains
#   * a number written out as the whole argument (`3`, `8.0`),
#   * arithmetic: a binary or unary operator (`math.log(2) / -float(d)`, `x - y`, `-s.log()`),
#   * a `math.` function or constant (`math.log`, `math.ceil`, `math.pi`).
# Not counted: subscripts (`ell[-1]` addresses an element) and the keyword arguments of calls
# inside (`atol=1e-10`, `step_size=1 / 8` configure an oracle); measured values and oracle calls
# (`measured`, `values.mean()`, `reference.latent_scales()`) are what a truth argument should be.
# Exercises whose truth is a formula use a checker of `ffjord_edu.course.checks` that computes it there.

TRUTH_ARGUMENTS = {
    "check_close": ("expected", 1),
    "check_function": ("reference", 1),
    "check_log_density": ("parts", 1),
    "check_time_direction": ("solve", 1),
}


def cell_definitions(tree: ast.Module) -> dict[str, list[ast.AST]]:
    """What each top-level name of a cell stands for: a def's body, an assignment's value."""
    found: dict[str, list[ast.AST]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node.body[1:] if ast.get_docstring(node) else node.body
        elif isinstance(node, ast.Assign):
            found.update({t.id: [node.value] for t in node.targets if isinstance(t, ast.Name)})
    return found


def formula_pieces(nodes: list[ast.AST]) -> list[str]:
    """The arithmetic and `math.` pieces of expressions, outside subscripts and call keywords."""
    pieces, stack = [], list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.keyword):
            continue
        if isinstance(node, ast.Subscript):
            stack.append(node.value)
        elif isinstance(node, ast.BinOp | ast.UnaryOp) and not isinstance(node.op, ast.Not):
            pieces.append(f"arithmetic `{ast.unparse(node)}`")
        elif isinstance(node, ast.Attribute) and ast.unparse(node.value) == "math":
            pieces.append(f"`{ast.unparse(node)}`")
        else:
            stack.extend(ast.iter_child_nodes(node))
    return pieces


def answers_shown(source: str) -> list[str]:
    """Every expected value or reference formula that a check cell's source shows (see above)."""
    tree = ast.parse(source)
    definitions = cell_definitions(tree)
    shown = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        checker = ast.unparse(call.func).rsplit(".", 1)[-1]
        if checker not in TRUTH_ARGUMENTS:
            continue
        keyword, position = TRUTH_ARGUMENTS[checker]
        truths = [k.value for k in call.keywords if k.arg == keyword]
        truths += call.args[position : position + 1]
        for truth in truths:
            if isinstance(truth, ast.Constant) and isinstance(truth.value, int | float | complex):
                shown.append(f"{checker}: the expected value {truth.value!r}")
                continue
            named = isinstance(truth, ast.Name) and truth.id in definitions
            body = definitions[truth.id] if named else [truth]
            shown += [f"{checker}: {piece}" for piece in formula_pieces(body)]
    return shown


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        (  # 03 ex. 3 before this rule: the answer's formula in the check cell
            'check_close(\n    t_double,\n    math.log(2) / -float(delta_logp[0]),\n    name="t_double",\n)',
            ["arithmetic `math.log(2) / -float(delta_logp[0])`"],
        ),
        (
            'check_close(exact_exponent, 3, name="exact_exponent", atol=1e-9)',
            ["the expected value 3"],
        ),
        ("expected = np.sqrt((s**2).sum()) / len(s)\ncheck_close(p, expected)", ["arithmetic"]),
        (
            "def reference(x, t0, t1):\n    z, ell = solve(x, t0, t1)\n    return log_n(z[-1]) - ell[-1]\n"
            "check_time_direction(f, reference, [(x,)])",
            ["arithmetic `log_n(z[-1]) - ell[-1]`"],
        ),
        ("check_close(x, float(nll.mean()) - math.log(32))", ["arithmetic"]),
        ("check_close(bpd, expected=math.log2(256))", ["`math.log2`"]),
        ("check_close(p, measured, rtol=1e-3)", []),
        ("check_function(f, lambda t, z: divergence_of(field, t, z), inputs, atol=1e-8)", []),
        ("theirs = odeint(f, y, times, step_size=1 / 8)[-1]\ncheck_close(ours, theirs)", []),
        ("check_second_order(second_order, J5, measured_c);", []),
    ],
    ids=[
        "03-ex3-formula",
        "literal",
        "assigned-formula",
        "reference-def",
        "math-in-arithmetic",
        "math",
        "measured",
        "oracle",
        "configured-oracle",
        "exercise-checker",
    ],
)
def test_the_answer_scan_finds_values_and_formulas(source, shown):
    found = answers_shown(source)
    assert len(found) == len(shown), found
    for expected, piece in zip(shown, found):
        assert expected in piece


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if solution_cells(p)], ids=lambda p: p.stem)
def test_no_check_cell_shows_the_answer(path):
    """The student edition's check cells hold no expected value and no reference formula."""
    edition = student_edition(nbformat.read(path, as_version=4))
    checks = [c for c in edition.cells if "check" in tags(c)]
    assert checks, f"{path.name} has exercises but no check cells"
    for cell in checks:
        shown = answers_shown(cell.source)
        assert not shown, f"{path.name}: a check cell shows the answer: {shown}\n{cell.source}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if solution_cells(p)], ids=lambda p: p.stem)
def test_no_check_cell_prints_a_stray_verdict(path):
    """A checker returns True/False; as a cell's last expression, Jupyter would print it too."""
    for cell in nbformat.read(path, as_version=4).cells:
        if "check" not in tags(cell):
            continue
        last = ast.parse(cell.source).body[-1]
        shown = isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
        checker = shown and ast.unparse(last.value.func).startswith("check_")
        assert not checker or cell.source.rstrip().endswith(";"), (
            f"{path.name}: end the check cell with `;` so that its True/False is not shown:\n"
            f"{cell.source}"
        )
