"""Show the library's own code inside a lesson, instead of pasting it."""

from __future__ import annotations

import inspect

from IPython.display import Code

__all__ = ["show_source"]


def show_source(obj: object) -> Code:
    """Syntax-highlighted source of a function, class or module, for display in a notebook."""
    return Code(inspect.getsource(obj), language="python")
