"""How a cost grows with the dimension: measured times on log-log axes, with fitted powers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["fitted_power", "plot_cost_scaling"]


def fitted_power(sizes: Sequence[float], costs: Sequence[float]) -> float:
    """The exponent :math:`p` of the least-squares fit :math:`\\text{cost} \\approx c\\,D^p`.

    That is the slope of the straight line through :math:`(\\log D, \\log \\text{cost})`. Fit it
    on the large sizes only: at small ones a fixed overhead hides the growth.

    Example:
        >>> round(fitted_power([10, 20, 40], [3.0, 24.0, 192.0]), 6)
        3.0
    """
    if len(sizes) != len(costs) or len(sizes) < 2:
        raise ValueError(
            f"need two or more (size, cost) pairs; got {len(sizes)} sizes, {len(costs)} costs"
        )
    slope, _ = np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(costs, float)), 1)
    return float(slope)


def plot_cost_scaling(
    sizes: Sequence[float],
    costs: Mapping[str, Sequence[float]],
    ax: plt.Axes | None = None,
    fit_from: int = 0,
    reference_power: float | None = None,
    marks: Mapping[float, str] | None = None,
    title: str = "",
    ylabel: str = "seconds",
) -> plt.Axes:
    """Measured costs against the dimension on log-log axes, one series per entry of ``costs``.

    Each series is drawn as points with its fitted power (`fitted_power` over
    ``sizes[fit_from:]``) in the legend and a fitted line over that range. With
    ``reference_power`` :math:`p`, a dashed line :math:`\\propto D^p` runs through the first
    series' largest size, extended to the largest of ``marks`` (vertical lines at named sizes,
    e.g. ``{784: "MNIST"}``), so the growth can be read off beyond what was measured.
    """
    ax = ax if ax is not None else plt.gca()
    sizes_ = np.asarray(sizes, float)
    fitted = sizes_[fit_from:]
    for name, values in costs.items():
        values_ = np.asarray(values, float)
        power = fitted_power(fitted, values_[fit_from:])
        (points,) = ax.loglog(sizes_, values_, "o", label=f"{name}: fitted slope {power:.2f}")
        scale = np.exp(np.mean(np.log(values_[fit_from:]) - power * np.log(fitted)))
        ax.loglog(fitted, scale * fitted**power, color=points.get_color())
    marks = dict(marks or {})
    if reference_power is not None:
        first = np.asarray(next(iter(costs.values())), float)
        end = max([sizes_[-1], *marks])
        grid = np.geomspace(sizes_[0], end, 50)
        through = first[-1] * (grid / sizes_[-1]) ** reference_power
        ax.loglog(
            grid, through, "k--", label=f"$O(D^{{{reference_power:g}}})$ through the largest size"
        )
    lowest = min(min(values) for values in costs.values())
    for size, name in marks.items():
        ax.axvline(size, color="tab:gray", lw=0.8)
        ax.text(size * 0.93, lowest, name, rotation=90, ha="right", va="bottom", color="tab:gray")
    ax.set_xticks(sizes_, labels=[f"{size:g}" for size in sizes_])  # the measured sizes, by name
    ax.minorticks_off()
    ax.set(xlabel="dimension D", ylabel=ylabel, title=title)
    ax.legend()
    return ax
