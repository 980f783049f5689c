"""Loading trained models: one registry of model kinds, checkpoints and run folders, and the
small pretrained models shipped in ``data/pretrained/`` (with how to remake each one).

A checkpoint's ``model_config`` says which kind of model it holds (`model_kind`); `MODEL_KINDS`
maps each kind to the function that builds it from that config. Nothing is built before the
config is checked against the weights (`ffjord_edu.training.checkpoints.build_checked`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .cnf import CNF
from .models.baselines import build_baseline
from .models.multiscale import MultiscaleCNF
from .models.vae import VAE
from .resources import course_source, data_root, repository_url, scripts_folder
from .training.checkpoints import build_checked, read_checkpoint

__all__ = [
    "MAKERS",
    "MODEL_KINDS",
    "available",
    "load",
    "load_baseline",
    "load_pretrained",
    "load_vae",
    "model_kind",
    "pretrained_root",
]

MODEL_KINDS: dict[str, Callable[[dict[str, Any]], nn.Module]] = {
    "cnf": CNF.from_config,
    "multiscale": MultiscaleCNF.from_config,
    "vae": lambda config: VAE(**config),
}


KIND_NAMES = {"cnf": "CNF", "multiscale": "MultiscaleCNF", "vae": "VAE"}


def model_kind(config: Any) -> str:
    """Which of `MODEL_KINDS` a checkpoint's ``model_config`` describes."""
    if isinstance(config, dict) and config.get("model") == "multiscale":
        return "multiscale"
    if isinstance(config, dict) and "posterior" in config:
        return "vae"
    return "cnf"


def load(
    path: str | Path, map_location: str | torch.device = "cpu", kind: str | None = None
) -> nn.Module:
    """The trained model in ``path`` (a checkpoint file, or a training run's folder), in eval mode.

    For example ``load("runs/8gaussians")`` after
    ``python -m ffjord_edu train toy --data 8gaussians --out runs/8gaussians``. ``kind`` (one of
    `MODEL_KINDS`) insists on a kind of model; by default the checkpoint's config decides.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    payload = read_checkpoint(path, map_location)
    config = payload["model_config"]
    found = model_kind(config)
    if kind is not None and kind != found:
        raise ValueError(
            f"{path} holds a {KIND_NAMES[found]}, not a {KIND_NAMES[kind]}; load it with load()"
        )
    return build_checked(MODEL_KINDS[found], config, payload["model_state"], path).eval()


def load_vae(path: str | Path, map_location: str | torch.device = "cpu") -> VAE:
    """The trained `VAE` in ``path`` (a checkpoint file or a run folder), in eval mode."""
    model = load(path, map_location, kind="vae")
    assert isinstance(model, VAE)
    return model


# The command that (re)makes the files of each family, exactly as data/README.md lists it.
MAKERS: dict[str, str] = {
    "toy": "python scripts/train_pretrained.py --only {name}",
    "vae": "python scripts/train_vae.py --only {name}",
    "images": "python scripts/train_pretrained_digits.py (the digits model; for MNIST or CIFAR-10 "
    "train with: python -m ffjord_edu train images --data {name} --preset {name} --root DIR "
    "--out runs/{name}, then ffjord_edu.load('runs/{name}'))",
    "flow_matching": "python scripts/train_flow_matching.py --only {name} --couplings independent",
    "ot_flow_matching": "python scripts/train_flow_matching.py --only {name} --couplings ot",
    "baselines": "python scripts/train_baselines.py",
    "picture": "python scripts/train_picture.py",
}


def pretrained_root() -> Path:
    """``pretrained/`` of the course data (`ffjord_edu.resources.data_root`)."""
    return data_root() / "pretrained"


def available() -> list[str]:
    """Names of the shipped models, like ``"toy/8gaussians"``."""
    root = pretrained_root()
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.glob("*/*.pt"))


def load_pretrained(name: str) -> nn.Module:
    """The pretrained model ``name`` (``"family/model"``, e.g. ``"toy/checkerboard"``), in eval
    mode: a `CNF`, or a `ffjord_edu.models.vae.VAE` for the ``vae`` family (``"vae/ffjord"``).

    A missing file raises `FileNotFoundError` naming the command that makes it.
    """
    family, _, model = name.partition("/")
    if family not in MAKERS or not model:
        raise ValueError(
            f"pretrained names look like 'family/model' with family one of {', '.join(MAKERS)}; "
            f"got '{name}'"
        )
    path = pretrained_root() / f"{name}.pt"
    if not path.is_file():
        have = ", ".join(available()) or "none"
        where = "" if scripts_folder() else f", in a clone of {repository_url()}"
        raise FileNotFoundError(
            f"no pretrained model '{name}' in {course_source()} (looked for {path}). "
            f"Make it with{where}: {MAKERS[family].format(name=model)}   (shipped models: {have})"
        )
    if family == "baselines":
        return load_baseline(path)
    return load(path)


def load_baseline(path: str | Path) -> nn.Module:
    """A trained baseline (`ffjord_edu.models.baselines`), in eval mode: the state dict ``path`` (``.pt``) and the architecture
    in the ``.json`` next to it, as `scripts/train_baselines.py` writes them."""
    path = Path(path)
    record = json.loads(path.with_suffix(".json").read_text())
    model = build_baseline(record["architecture"])
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()
