"""Data sets: the 2-D toy densities, the tabular benchmarks and the image sets (each with an
embedded default)."""

from . import images, tabular, toy

__all__ = ["images", "tabular", "toy"]
