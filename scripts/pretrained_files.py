"""What every ``scripts/train_*.py`` that makes a pretrained model writes, written one way.

A model goes to ``<name>.pt`` (config, weights and metrics; no optimiser state) with its metrics
also in ``<name>.json``, both written atomically; its table in ``data/README.md`` is rewritten
between a pair of HTML-comment markers. The scripts run as ``python scripts/<name>.py`` (so this
folder is on ``sys.path``) and import it as ``from pretrained_files import ...``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ffjord_edu.resources import data_root
from ffjord_edu.training.checkpoints import write_atomically, write_checkpoint

__all__ = ["README", "provenance", "rewrite_readme_table", "save_model", "write_json"]

README = data_root() / "README.md"


def provenance() -> dict[str, str]:
    """The torch version and the machine, the last two fields of every metrics record."""
    return {
        "torch": str(torch.__version__),  # a TorchVersion would not load with weights_only
        "machine": f"{platform.processor() or platform.machine()}, 1 thread",
    }


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` to ``path`` as indented JSON, atomically."""
    write_atomically(path, lambda f: Path(f).write_text(json.dumps(record, indent=2) + "\n"))


def save_model(folder: Path, name: str, model: nn.Module, record: dict[str, Any]) -> None:
    """Write ``folder/<name>.pt`` (the CPU model's config and weights, and ``record`` as its
    metrics) and ``folder/<name>.json`` (``record``)."""
    model = model.cpu()
    write_checkpoint(
        folder / f"{name}.pt",
        {"model_config": model.config, "model_state": model.state_dict(), "metrics": record},
    )
    write_json(folder / f"{name}.json", record)


def rewrite_readme_table(start: str, end: str, table: str) -> None:
    """Replace what stands between the markers ``start`` and ``end`` in data/README.md."""
    text = README.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{README} has no {start} … {end} markers for the table")
    before, rest = text.split(start)
    after = rest.split(end)[1]
    README.write_text(f"{before}{start}\n{table}\n{end}{after}")
