"""ffjord_edu: FFJORD continuous normalizing flows, built to be read and taught."""

from .cnf import CNF
from .course.source import show_source
from .loading import load, load_pretrained
from .resources import data_path
from .solvers import odeint
from .training import TrainConfig, device, fast_mode, seed_everything, train, train_toy

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
