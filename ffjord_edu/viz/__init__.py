"""Pictures and widgets: densities on a grid, trajectories, vector fields, frame players."""

from ..course.source import show_source
from .density import DensityGrid, density_grid, plot_density, plot_samples
from .field import plot_vector_field
from .player import FramePlayer, plotly_density_animation, render_frames
from .trajectories import plot_trajectories, trajectories_3d

__all__ = [
    "DensityGrid",
    "FramePlayer",
    "density_grid",
    "plot_density",
    "plot_samples",
    "plot_trajectories",
    "plot_vector_field",
    "plotly_density_animation",
    "render_frames",
    "show_source",
    "trajectories_3d",
]
