"""Exercises in notebooks: solution cells, and the student edition with them blanked out.

The convention: an exercise is a markdown cell stating the task, a code cell tagged
``solution`` that only defines the answer names (assignments and ``def``s), and a code cell
tagged ``check`` that calls `ffjord_edu.checks`. The student edition replaces every solution
cell by the same names set to ``...``, so each check prints "✋ ... is still `...`" instead of
raising.
"""

from __future__ import annotations

import ast
import copy

import nbformat

__all__ = ["SOLUTION_TAG", "solution_names", "stub_solution", "student_edition"]

SOLUTION_TAG = "solution"


def solution_names(source: str) -> list[str]:
    """The names a solution cell defines at top level, in order (assignments and ``def``s)."""
    names: list[str] = []
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.FunctionDef | ast.ClassDef):
            names.append(statement.name)
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                elements = target.elts if isinstance(target, ast.Tuple) else [target]
                names += [e.id for e in elements if isinstance(e, ast.Name)]
        elif not isinstance(statement, ast.Import | ast.ImportFrom | ast.Expr):
            raise ValueError(
                f"a solution cell may only assign names and define functions; line "
                f"{statement.lineno} is a {type(statement).__name__}"
            )
    return list(dict.fromkeys(names))


def stub_solution(source: str) -> str:
    """The student's version of a solution cell: each defined name set to ``...``.

    Example:
        >>> print(stub_solution("import math\\nslope = math.log(4) / math.log(2)"))
        # Your turn: replace each ... with your code.
        slope = ...
    """
    stubs = [f"{name} = ..." for name in solution_names(source)]
    return "\n".join(["# Your turn: replace each ... with your code.", *stubs])


def student_edition(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with every ``solution``-tagged cell replaced by its stub."""
    edition = copy.deepcopy(notebook)
    for cell in edition.cells:
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            cell.source = stub_solution(cell.source)
            cell.outputs, cell.execution_count = [], None
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG]
    return edition
