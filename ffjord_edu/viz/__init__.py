"""Pictures and widgets: densities on a grid, trajectories, vector fields, frame players."""

from ..course.source import show_source
from .change_of_variables import (
    plot_coloured_samples,
    plot_histogram_1d,
    plot_histogram_2d,
    plot_jacobian_pattern,
)
from .density import DensityGrid, density_grid, plot_density, plot_samples
from .divergence import plot_divergence
from .field import plot_vector_field
from .hutchinson import (
    plot_estimate_histograms,
    plot_integrands,
    plot_spread_vs_probes,
    plot_variance_vs_budget,
    plotly_probe_average_animation,
)
from .player import FramePlayer, plotly_density_animation, render_frames
from .scaling import fitted_power, plot_cost_scaling
from .solvers import (
    plot_error_vs_nfe,
    plot_learned_paths,
    plot_solution_and_error,
    solver_explorer,
)
from .trajectories import plot_trajectories, trajectories_3d

__all__ = [
    "DensityGrid",
    "FramePlayer",
    "density_grid",
    "fitted_power",
    "plot_coloured_samples",
    "plot_cost_scaling",
    "plot_density",
    "plot_divergence",
    "plot_error_vs_nfe",
    "plot_estimate_histograms",
    "plot_histogram_1d",
    "plot_histogram_2d",
    "plot_integrands",
    "plot_jacobian_pattern",
    "plot_learned_paths",
    "plot_samples",
    "plot_solution_and_error",
    "plot_spread_vs_probes",
    "plot_trajectories",
    "plot_variance_vs_budget",
    "plot_vector_field",
    "plotly_density_animation",
    "plotly_probe_average_animation",
    "render_frames",
    "show_source",
    "solver_explorer",
    "trajectories_3d",
]
