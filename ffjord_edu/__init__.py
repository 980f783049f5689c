"""ffjord_edu: FFJORD continuous normalizing flows, built to be read and taught."""

from .checkpoint import load
from .cnf import CNF
from .pretrained import load_pretrained
from .resources import data_path
from .runtime import device, fast_mode, seed_everything
from .solvers import odeint
from .source import show_source
from .train import TrainConfig, train, train_toy

__all__ = [
    "CNF",
    "TrainConfig",
    "data_path",
    "device",
    "fast_mode",
    "load",
    "load_pretrained",
    "odeint",
    "seed_everything",
    "show_source",
    "train",
    "train_toy",
]
__version__ = "0.1.0"
