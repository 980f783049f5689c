"""Give every notebook the same opening: its "Run it online" links and the shared setup cell.

    python scripts/sync_notebooks.py           # rewrite notebooks/*.ipynb where they differ
    python scripts/sync_notebooks.py --check   # exit 1 and name the notebooks that differ

The links go on the line under the title of the first (markdown) cell; the setup cell
(`ffjord_edu.course.files.setup_cell_source`) is the first code cell. Both are derived from
``[project.urls] Repository`` in pyproject.toml, so changing the URL there and running this
script updates every notebook. `tests/test_course_files.py` checks that nothing differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from ffjord_edu.course.files import LINKS_MARKER, SETUP_MARKER, links_line, setup_cell_source

ROOT = Path(__file__).resolve().parents[1]


def synced(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """``notebook`` with its links line and setup cell as they should be (changed in place)."""
    title = notebook.cells[0]
    if title.cell_type != "markdown" or not title.source.startswith("# "):
        raise ValueError(f"{name}: the first cell must be markdown opening with '# <title>'")
    lines = [line for line in title.source.split("\n") if not line.startswith(LINKS_MARKER)]
    title.source = "\n".join([lines[0], "", links_line(name), *lines[1:]]).replace("\n\n\n", "\n\n")
    setup = next((c for c in notebook.cells if c.source.startswith(SETUP_MARKER)), None)
    if setup is None:
        setup = nbformat.v4.new_code_cell()
        setup.id = "ffjord-edu-setup"  # fixed, so re-running the script changes nothing
        first_code = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")
        notebook.cells.insert(first_code, setup)
    setup.source = setup_cell_source()
    return notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that differ")
    arguments = parser.parse_args()
    differ = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text()
        notebook = synced(nbformat.reads(text, as_version=4), path.name)
        new = nbformat.writes(notebook) + "\n"
        if new != text:
            differ.append(path.name)
            if not arguments.check:
                path.write_text(new)
    verb = "differ" if arguments.check else "rewritten"
    print(f"{len(differ)} notebook(s) {verb}: {', '.join(differ) or 'none'}")
    return 1 if arguments.check and differ else 0


if __name__ == "__main__":
    sys.exit(main())
