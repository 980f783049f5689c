"""Datasets for the FFJORD examples: two-dimensional toy densities."""

from . import toy

__all__ = ["toy"]
