"""Data sets: the 2-D toy densities and the tabular benchmarks (plus an embedded default)."""

from . import tabular, toy

__all__ = ["tabular", "toy"]
