"""How long a notebook takes to read, by the rule `docs/teaching.md` plans lessons with.

Reading time = prose words / 100 + displayed equations x 1 + code lines / 20, in minutes: prose
at 100 words a minute (technical text, read carefully), one minute per displayed ``$$ ... $$``
equation, code at 20 lines a minute (every line of every code cell, blank ones included).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ReadingTime", "reading_time"]

WORDS_PER_MINUTE = 100
MINUTES_PER_EQUATION = 1
CODE_LINES_PER_MINUTE = 20

_DISPLAYED_EQUATION = re.compile(r"\$\$.*?\$\$", flags=re.DOTALL)


@dataclass(frozen=True)
class ReadingTime:
    """The counts behind a notebook's reading time, and the time itself.

    Attributes:
        words: words of markdown prose, displayed equations removed.
        equations: displayed ``$$ ... $$`` equations.
        code_lines: lines of code cells.
    """

    words: int
    equations: int
    code_lines: int

    @property
    def minutes(self) -> float:
        """words / 100 + equations + code_lines / 20."""
        return (
            self.words / WORDS_PER_MINUTE
            + self.equations * MINUTES_PER_EQUATION
            + self.code_lines / CODE_LINES_PER_MINUTE
        )


def reading_time(notebook: str | Path) -> ReadingTime:
    """Count a stored notebook's prose words, displayed equations and code lines.

    Example:
        >>> import json, tempfile
        >>> cells = [{"cell_type": "markdown", "source": "One two $$x^2$$ three", "metadata": {}}]
        >>> path = Path(tempfile.mkdtemp()) / "n.ipynb"
        >>> _ = path.write_text(json.dumps({"cells": cells}))
        >>> reading_time(path)
        ReadingTime(words=3, equations=1, code_lines=0)
    """
    words = equations = code_lines = 0
    for cell in json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            equations += len(_DISPLAYED_EQUATION.findall(source))
            words += len(_DISPLAYED_EQUATION.sub(" ", source).split())
        elif cell["cell_type"] == "code":
            code_lines += len(source.splitlines())
    return ReadingTime(words, equations, code_lines)
