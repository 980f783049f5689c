"""Data sets: the 2-D toy densities, the tabular benchmarks and the image sets (each with an
embedded default)."""

from . import images, picture, tabular, toy

__all__ = ["images", "picture", "tabular", "toy"]
