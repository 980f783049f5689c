"""The machine a benchmark ran on, recorded next to its numbers in the results JSON.

Imported by the benchmark scripts, which run as ``python benchmarks/<name>.py`` (so this folder
is on ``sys.path``): ``from machine import environment``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

__all__ = ["cpu_name", "environment"]


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else `platform.processor` (e.g. on macOS)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return models[0] if models else platform.processor()


def environment(**versions: str) -> dict[str, Any]:
    """CPU, core and torch-thread counts, and the Python and torch versions, then ``versions``
    (other libraries' versions, e.g. ``zuko=zuko.__version__``) in the order given."""
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        **versions,
    }
