"""Pictures and widgets: densities on a grid, trajectories, vector fields, frame players."""

from ..source import show_source
from .density import DensityGrid, density_grid, plot_density, plot_samples
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
from .stiffness import (
    dopri5_steps,
    plot_jacobian_sizes,
    plot_stability_region,
    plot_step_sizes,
    plot_tolerance_sweep,
    stability_boundary,
)
from .trajectories import plot_trajectories, trajectories_3d

__all__ = [
    "DensityGrid",
    "FramePlayer",
    "GradientCost",
    "density_grid",
    "dopri5_steps",
    "gradient_costs",
    "local_log_posterior",
    "plot_couplings",
    "plot_density",
    "plot_flow_models",
    "plot_gradient_costs",
    "plot_iwae_bounds",
    "plot_jacobian_sizes",
    "plot_live_nfe",
    "plot_loss_curve",
    "plot_nfe_vs_dim",
    "plot_nll_against_time",
    "plot_path_shapes",
    "plot_penalty_tradeoff",
    "plot_prior_samples",
    "plot_reconstructions",
    "plot_samples",
    "plot_sampling_errors",
    "plot_stability_region",
    "plot_step_sizes",
    "plot_tolerance_sweep",
    "plot_training_nfe",
    "plot_trajectories",
    "plot_vector_field",
    "plotly_density_animation",
    "posterior_frames",
    "print_runs",
    "regularization_explorer",
    "relative_difference",
    "render_frames",
    "rolling_mean",
    "run_name",
    "sampling_errors",
    "saved_bytes",
    "show_source",
    "stability_boundary",
    "trajectories_3d",
]
