"""One error for an option that is not in its registry, so every "choose one of" reads alike.

Each registry lives beside what it names (`ffjord_edu.solvers.METHODS`, `ffjord_edu.trace.NOISES`,
`ffjord_edu.datasets.toy.NAMES`, ...); the command line offers the same registries as choices.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["check_choice"]


def check_choice(what: str, value: object, choices: Iterable[str]) -> None:
    """Raise a `ValueError` naming ``value`` and the valid ``choices`` unless it is one of them.

    Example:
        >>> check_choice("ODE solver", "rk45", ("euler", "rk4"))
        Traceback (most recent call last):
        ...
        ValueError: unknown ODE solver 'rk45'; choose one of: euler, rk4
    """
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")
