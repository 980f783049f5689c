"""How long each notebook takes to run, for the course plan in docs/teaching.md.

Each notebook is executed top to bottom with nbclient, the way `make test` runs it (one torch
thread, fixed hash seed, strict checks), in fast mode (``FFJORD_EDU_FAST=1``, the CI setting) or
full mode (what a student gets in JupyterLab). Two times per notebook:

* ``wall_s``: wall-clock seconds, which depend on how busy the machine is (the 1-minute load
  average before and after is recorded beside them);
* ``kernel_cpu_s``: CPU seconds used by the notebook's kernel (user + system, from
  ``getrusage(RUSAGE_CHILDREN)`` once the kernel has exited). With one thread this is close to
  the wall time on an idle core, and it barely moves with the load, so it is the number to
  plan with.

    python benchmarks/notebook_runtimes.py --mode fast            # all notebooks, ~10 min idle
    python benchmarks/notebook_runtimes.py --mode full notebooks/03_*.ipynb

Results are appended as JSON lines to ``--out`` (default
``benchmarks/results/notebook_runtimes.jsonl``), one line per notebook and mode.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT = {
    "FFJORD_EDU_STRICT_CHECKS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "PYTHONHASHSEED": "0",
    "TQDM_DISABLE": "1",
    "MPLBACKEND": "Agg",
}


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(path: Path, mode: str) -> dict:
    """Execute one notebook in a fresh kernel; its wall and kernel CPU seconds and the load."""
    notebook = nbformat.read(path, as_version=4)
    load_before, cpu_before, start = os.getloadavg()[0], children_cpu_seconds(), time.time()
    error = None
    try:
        NotebookClient(
            notebook,
            timeout=1800,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    except Exception as failure:  # record it and go on with the next notebook
        error = f"{type(failure).__name__}: {str(failure)[:300]}"
    wall = time.time() - start
    time.sleep(1)  # let the kernel process be reaped, so its CPU time is counted
    return {
        "notebook": path.name,
        "mode": mode,
        "wall_s": round(wall, 1),
        "kernel_cpu_s": round(children_cpu_seconds() - cpu_before, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "error": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--mode", choices=("fast", "full"), default="fast")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "notebook_runtimes.jsonl"
    )
    arguments = parser.parse_args()
    os.environ.update(ENVIRONMENT, FFJORD_EDU_FAST="1" if arguments.mode == "fast" else "0")
    for path in arguments.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        record = measure(path, arguments.mode)
        with arguments.out.open("a") as out:
            out.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
