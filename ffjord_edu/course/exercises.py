"""Exercises in notebooks: solution cells, and the student edition with them blanked out.

The convention: an exercise is a markdown cell stating the task, a code cell tagged
``solution`` that only defines the answer names (assignments and ``def``s), and a code cell
tagged ``check`` that calls `ffjord_edu.course.checks`. Each name in a solution cell carries its task:
a ``def`` its docstring, an assignment the comment lines just above it. The student edition
replaces every solution cell by a stub that keeps those comments (and a function's signature)
and sets each name to ``...``, so the student sees exactly what to write, and each check prints
"✋ ... is not solved yet" instead of raising.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = [
    "SOLUTION_TAG",
    "STUDENT_NOTE",
    "Task",
    "solution_names",
    "solution_tasks",
    "stub_solution",
    "student_edition",
    "write_student_editions",
]

SOLUTION_TAG = "solution"
STUDENT_NOTE = (
    "> **Student edition.** Each exercise's code cell holds `...` where your answer goes; the "
    "comment above each `...` says what to write. Run the check cell below it for feedback: "
    '"✋ not solved yet", a ❌ that names the mistake, or ✅.'
)


@dataclass(frozen=True)
class Task:
    """One name a solution cell defines: what the student must write, and how it starts.

    Attributes:
        name: the name the check cell reads.
        description: what to write, from the docstring or the comments above the definition
            (empty when the solution cell says nothing).
        signature: ``"def f(x, y):"`` for a function, ``""`` for a value.
    """

    name: str
    description: str
    signature: str = ""


def _comments_above(lines: list[str], lineno: int) -> str:
    """The block of ``#`` comment lines that ends right above line ``lineno`` (1-based)."""
    block: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        block.insert(0, lines[index].strip().lstrip("#").strip())
        index -= 1
    return "\n".join(block)


def solution_tasks(source: str) -> list[Task]:
    """The names a solution cell defines at top level, in order, with what each one should be.

    Raises:
        ValueError: the cell does more than assign names and define functions (a loop, a
            call), which a stub could not replace by ``...``.

    Example:
        >>> solution_tasks("# the answer, a float\\nanswer = 6 * 7")
        [Task(name='answer', description='the answer, a float', signature='')]
    """
    lines = source.splitlines()
    tasks: list[Task] = []
    for statement in ast.parse(source).body:
        above = _comments_above(lines, statement.lineno)
        if isinstance(statement, ast.FunctionDef | ast.ClassDef):
            docstring = ast.get_docstring(statement) or ""
            if isinstance(statement, ast.FunctionDef):
                returns = f" -> {ast.unparse(statement.returns)}" if statement.returns else ""
                signature = f"def {statement.name}({ast.unparse(statement.args)}){returns}:"
            else:
                signature = f"class {statement.name}:"
            tasks.append(Task(statement.name, docstring or above, signature))
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                elements = target.elts if isinstance(target, ast.Tuple) else [target]
                tasks += [Task(e.id, above) for e in elements if isinstance(e, ast.Name)]
        elif not isinstance(statement, ast.Import | ast.ImportFrom | ast.Expr):
            raise ValueError(
                f"a solution cell may only assign names and define functions; line "
                f"{statement.lineno} is a {type(statement).__name__}"
            )
    unique = {task.name: task for task in reversed(tasks)}  # the first definition wins
    return [unique[name] for name in dict.fromkeys(task.name for task in tasks)]


def solution_names(source: str) -> list[str]:
    """The names a solution cell defines at top level, in order (assignments and ``def``s)."""
    return [task.name for task in solution_tasks(source)]


def _stub(task: Task) -> list[str]:
    """The stub lines of one task: a function keeps signature and docstring, a value its comment."""
    if task.signature.startswith("def "):
        lines = task.description.splitlines() or [""]
        if len(lines) == 1:
            docstring = [f'    """{lines[0]}"""'] if lines[0] else []
        else:
            rest = [f"    {line}".rstrip() for line in lines[1:]]
            docstring = [f'    """{lines[0]}', *rest, '    """']
        return [task.signature, *docstring, "    return ...  # your code"]
    comment = [f"# {line}".rstrip() for line in task.description.splitlines()]
    return [*comment, f"{task.name} = ..."]


def stub_solution(source: str) -> str:
    """The student's version of a solution cell: what to write, and ``...`` in its place.

    A function keeps its signature and docstring and returns ``...``; a value keeps the comment
    above it. The check cell then reports "not solved yet" until the student fills it in.

    Example:
        >>> print(stub_solution("import math\\n# log2(4), a float\\nslope = math.log(4) / math.log(2)"))
        # Your turn: replace each ... with your code, then run the check below.
        <BLANKLINE>
        # log2(4), a float
        slope = ...
    """
    blocks = ["\n".join(_stub(task)) for task in solution_tasks(source)]
    header = "# Your turn: replace each ... with your code, then run the check below."
    return "\n\n".join([header, *blocks])


def student_edition(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` for students: solutions stubbed, every output cleared.

    Each ``solution``-tagged cell becomes its `stub_solution` (tag removed, so a second pass
    changes nothing); ``check`` cells stay; a note after the title says how the edition works.
    """
    edition = copy.deepcopy(notebook)
    for cell in edition.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION_TAG in tags:
            cell.source = stub_solution(cell.source)
            cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if not any(STUDENT_NOTE in cell.source for cell in edition.cells):
        edition.cells.insert(1, nbformat.v4.new_markdown_cell(STUDENT_NOTE))
    return edition


def write_student_editions(notebooks: Sequence[Path], out: Path) -> list[Path]:
    """Write the student edition of each notebook into the folder ``out``; returns the paths.

    The editions read their data through the installed package (`ffjord_edu.data_path`), so
    ``out`` can be anywhere and handed out as it is.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        edition = student_edition(nbformat.read(path, as_version=4))
        nbformat.validate(edition)
        nbformat.write(edition, out / path.name)
        written.append(out / path.name)
    return written
