"""Install time, size and package count of each way to install the course, each in a fresh venv.

    python benchmarks/install_routes.py                  # builds the wheel, runs every route
    python benchmarks/install_routes.py --routes cpu     # some routes only

Routes: ``default`` (``pip install <wheel>``: PyTorch as pip resolves it, the CUDA build on
Linux), ``cpu`` (a CPU-only PyTorch first, then the wheel), ``cpu-lab`` (the same with the
``[lab]`` extra, i.e. JupyterLab). Writes ``benchmarks/results/install_routes.json``. Times depend
on the network and the package cache: record where the packages came from (``--note``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import environment

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "install_routes.json"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def measure(route: str, wheel: Path, cpu_torch: str, work: Path) -> dict:
    venv = work / route
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-cache-dir"]
    steps = []
    if route.startswith("cpu"):
        steps.append([*pip, *shlex.split(cpu_torch)])
    steps.append([*pip, f"{wheel}[lab]" if route.endswith("lab") else str(wheel)])
    start = time.perf_counter()
    for step in steps:
        subprocess.run(step, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    )
    packages = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    result = {
        "route": route,
        "commands": [" ".join(s[2:]) for s in steps],
        "install_s": round(seconds, 1),
        "venv_bytes": folder_size(venv),
        "packages": len(packages),
        "torch": packages.get("torch"),
        "jupyterlab": packages.get("jupyterlab"),
    }
    shutil.rmtree(venv)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", nargs="*", default=["default", "cpu", "cpu-lab"])
    parser.add_argument(
        "--cpu-torch",
        default="torch",
        help="what the cpu routes install first (default: torch; add --index-url of PyTorch's "
        "CPU wheels where it is reachable, or a pinned CPU build)",
    )
    parser.add_argument("--note", default="", help="where the packages came from, for the record")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        dist = Path(work) / "dist"
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
            check=True,
        )
        wheel = next(dist.glob("*.whl"))
        cpu_torch = arguments.cpu_torch
        runs = []
        for route in arguments.routes:
            load = os.getloadavg()[0]
            run = measure(route, wheel, cpu_torch, Path(work))
            run["load_before"] = round(load, 2)
            print(json.dumps(run))
            runs.append(run)
    record = {"machine": environment(), "note": arguments.note, "runs": runs}
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
