"""The small pretrained models shipped in ``data/pretrained/``, and how to remake each one."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from .checkpoint import load
from .resources import course_source, data_root, repository_url, scripts_folder

__all__ = ["MAKERS", "available", "load_pretrained", "pretrained_root"]

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
    if family == "vae":
        from .models.vae import load_vae  # imported late: models import the training loop

        return load_vae(path)
    if family == "baselines":
        from .models.baselines import load_baseline

        return load_baseline(path)
    return load(path)
