"""Checkpoints: atomic writes, validated reads, and `load` for a trained flow."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .cnf import CNF

__all__ = ["FORMAT", "load", "read_checkpoint", "write_atomically", "write_checkpoint"]

FORMAT = "ffjord-edu-checkpoint"
VERSION = 1


def write_atomically(path: str | Path, write: Any) -> None:
    """Call ``write(file_path)`` on a temporary file beside ``path``, then rename it into place.

    The rename is atomic, so a crash or Ctrl-C mid-write leaves the previous file intact: a
    reader sees the old complete file or the new complete one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; use the usual mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (model config and state, optimiser, progress) atomically."""
    write_atomically(
        path, lambda file: torch.save({"format": FORMAT, "version": VERSION, **payload}, file)
    )


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `write_checkpoint`, with a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch.load fails in many ways on a damaged file
        raise RuntimeError(
            f"{path} is truncated or damaged and cannot be read ({type(error).__name__}); "
            "delete it and retrain, or restore it from a copy"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an ffjord-edu checkpoint (it has no '{FORMAT}' marker); "
            "pass a file written by ffjord_edu training or `python -m ffjord_edu train`"
        )
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{path} is checkpoint version {payload.get('version')}, this ffjord-edu reads "
            f"version {VERSION}; retrain with this version"
        )
    return payload


def load(path: str | Path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained flow in ``path``: a checkpoint file, or a training run's folder.

    For example ``load("runs/8gaussians")`` after
    ``python -m ffjord_edu train toy --data 8gaussians --out runs/8gaussians``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    payload = read_checkpoint(path, map_location)
    config = payload["model_config"]
    if config.get("model") == "multiscale":  # an image model; imported only when needed
        from .models.multiscale import MultiscaleCNF

        flow = MultiscaleCNF.from_config(config)
    else:
        flow = CNF.from_config(config)
    flow.load_state_dict(payload["model_state"])
    return flow.eval()
