"""Store notebooks the way the repository keeps them: clean, except the checked outputs.

Each notebook is executed as `make test` runs it (FFJORD_EDU_FAST=1, one thread, fixed hash
seed), then every output is removed except those of cells marked ``# NBVAL_CHECK_OUTPUT``: the
outputs that nbval compares, so a changed result fails the tests.

    python scripts/store_notebooks.py notebooks/*.ipynb          # execute, then store
    python scripts/store_notebooks.py --strip-only notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECKED = "NBVAL_CHECK_OUTPUT"
TEST_ENVIRONMENT = {
    "FFJORD_EDU_FAST": "1",
    "FFJORD_EDU_STRICT_CHECKS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "PYTHONHASHSEED": "0",
    "TQDM_DISABLE": "1",
    "MPLBACKEND": "Agg",
}


def is_checked(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and CHECKED in cell.source


def strip(notebook: nbformat.NotebookNode) -> None:
    """Empty every code cell's outputs except the checked ones; drop execution noise."""
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            cell.outputs = [o for o in cell.outputs if o.output_type != "display_data"]
            for output in cell.outputs:
                output.pop("execution_count", None)
        else:
            cell.outputs, cell.execution_count = [], None
    notebook.metadata.pop("widgets", None)


def store(path: Path, execute: bool) -> None:
    notebook = nbformat.read(path, as_version=4)
    if execute:
        os.environ.update(TEST_ENVIRONMENT)
        NotebookClient(
            notebook,
            timeout=900,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    strip(notebook)
    nbformat.write(notebook, path)
    print(f"stored {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--strip-only", action="store_true", help="do not execute")
    arguments = parser.parse_args()
    for path in arguments.notebooks:
        store(path, execute=not arguments.strip_only)


if __name__ == "__main__":
    main()
