"""Pictures and widgets: densities on a grid, trajectories, vector fields, frame players."""

from ..course.source import show_source
from .change_of_variables import (
    plot_coloured_samples,
    plot_histogram_1d,
    plot_histogram_2d,
    plot_jacobian_pattern,
)
from .density import DensityGrid, density_grid, plot_density, plot_samples
from .digits import digit_mosaic, show_digits
from .divergence import plot_divergence
from .field import plot_vector_field
from .flow_matching import (
    plot_couplings,
    plot_flow_models,
    plot_loss_curve,
    plot_nll_against_time,
    plot_path_shapes,
    plot_sampling_errors,
    sampling_errors,
)
from .gradients import (
    GradientCost,
    gradient_costs,
    plot_gradient_costs,
    relative_difference,
    saved_bytes,
)
from .hutchinson import (
    plot_estimate_histograms,
    plot_integrands,
    plot_spread_vs_probes,
    plot_variance_vs_budget,
    plotly_probe_average_animation,
)
from .player import FramePlayer, plotly_density_animation, render_frames
from .posteriors import (
    local_log_posterior,
    plot_iwae_bounds,
    plot_prior_samples,
    plot_reconstructions,
    posterior_frames,
)
from .regularization import (
    plot_live_nfe,
    plot_nfe_vs_dim,
    plot_penalty_tradeoff,
    plot_training_nfe,
    print_runs,
    regularization_explorer,
    rolling_mean,
    run_name,
)
from .scaling import fitted_power, plot_cost_scaling
from .solvers import plot_error_vs_nfe, plot_learned_paths, plot_solution_and_error, solver_explorer
from .stiffness import (
    dopri5_steps,
    plot_jacobian_sizes,
    plot_stability_region,
    plot_step_sizes,
    plot_tolerance_sweep,
    stability_boundary,
)
from .tabular import (
    LiveCurve,
    benchmark_table,
    plot_recorded_benchmark,
    plot_row_nlls,
    plot_sample_panels,
)
from .toy_flows import LiveTrainingPlot, plot_density_table
from .trajectories import plot_trajectories, trajectories_3d

__all__ = [
    "DensityGrid",
    "FramePlayer",
    "GradientCost",
    "LiveCurve",
    "LiveTrainingPlot",
    "benchmark_table",
    "density_grid",
    "digit_mosaic",
    "dopri5_steps",
    "fitted_power",
    "gradient_costs",
    "local_log_posterior",
    "plot_coloured_samples",
    "plot_cost_scaling",
    "plot_couplings",
    "plot_density",
    "plot_density_table",
    "plot_divergence",
    "plot_error_vs_nfe",
    "plot_estimate_histograms",
    "plot_flow_models",
    "plot_gradient_costs",
    "plot_histogram_1d",
    "plot_histogram_2d",
    "plot_integrands",
    "plot_iwae_bounds",
    "plot_jacobian_pattern",
    "plot_jacobian_sizes",
    "plot_learned_paths",
    "plot_live_nfe",
    "plot_loss_curve",
    "plot_nfe_vs_dim",
    "plot_nll_against_time",
    "plot_path_shapes",
    "plot_penalty_tradeoff",
    "plot_prior_samples",
    "plot_reconstructions",
    "plot_recorded_benchmark",
    "plot_row_nlls",
    "plot_sample_panels",
    "plot_samples",
    "plot_sampling_errors",
    "plot_solution_and_error",
    "plot_spread_vs_probes",
    "plot_stability_region",
    "plot_step_sizes",
    "plot_tolerance_sweep",
    "plot_training_nfe",
    "plot_trajectories",
    "plot_variance_vs_budget",
    "plot_vector_field",
    "plotly_density_animation",
    "plotly_probe_average_animation",
    "posterior_frames",
    "print_runs",
    "regularization_explorer",
    "relative_difference",
    "render_frames",
    "rolling_mean",
    "run_name",
    "sampling_errors",
    "saved_bytes",
    "show_digits",
    "show_source",
    "solver_explorer",
    "stability_boundary",
    "trajectories_3d",
]
