"""Pictures and widgets: densities on a grid, trajectories, vector fields, frame players."""

from ..source import show_source
from .density import DensityGrid, density_grid, plot_density, plot_samples
from .digits import digit_mosaic, show_digits
from .field import plot_vector_field
from .player import FramePlayer, plotly_density_animation, render_frames
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
    "LiveCurve",
    "LiveTrainingPlot",
    "benchmark_table",
    "density_grid",
    "digit_mosaic",
    "plot_density",
    "plot_density_table",
    "plot_recorded_benchmark",
    "plot_row_nlls",
    "plot_sample_panels",
    "plot_samples",
    "plot_trajectories",
    "plot_vector_field",
    "plotly_density_animation",
    "render_frames",
    "show_digits",
    "show_source",
    "trajectories_3d",
]
