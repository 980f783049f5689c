"""Shared test set-up: no figure outlives the test that drew it."""

import sys

import pytest


@pytest.fixture(autouse=True)
def close_figures():
    """Close every matplotlib figure after each test (where pyplot was imported at all)."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
