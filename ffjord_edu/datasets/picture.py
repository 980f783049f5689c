"""Your own density: a word or a picture as a 2-D density, with exact log-density and entropy.

A grayscale picture of ``H × W`` pixels with intensities :math:`w_{ij} \\ge 0` laid over a box
``[x_0, x_1] × [y_0, y_1]`` becomes the piecewise-constant density

.. math::

    p(x) = \\frac{w_{ij}}{A \\sum_{kl} w_{kl}} \\quad \\text{for } x \\text{ in pixel } (i, j),
    \\qquad p(x) = 0 \\text{ outside the box},

with :math:`A` the area of one pixel. Every pixel carries the mass
:math:`q_{ij} = w_{ij} / \\sum w`, so the entropy is exact:
:math:`H = -\\sum q_{ij} \\log (q_{ij} / A)`. A model's NLL on samples of ``p`` minus ``H`` is
the KL divergence :math:`\\mathrm{KL}(p \\,\\|\\, p_\\theta)`: the "KL gap" of the course.

Row 0 of the picture is its top, as on screen: it lies at ``y = y_1``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "PictureDensity",
    "from_array",
    "from_image",
    "from_text",
]

# A decoded picture beyond this many pixels is refused before it is decoded (a 12-megapixel
# phone photo passes, a decompression bomb does not); files beyond MAX_FILE_BYTES are not read.
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 20_000_000
# The long side of the picture spans [-HALF_WIDTH, HALF_WIDTH]: the scale of the toy densities.
HALF_WIDTH = 3.5


@dataclass(frozen=True)
class PictureDensity:
    """A piecewise-constant density: pixel ``(i, j)`` of ``weights`` is a cell of the box.

    Arguments:
        weights: nonnegative intensities, shape ``(H, W)``, float64; row 0 is the top.
        extent: the box ``(x0, x1, y0, y1)``.
        name: what the picture shows (a word, a file name), for titles.

    Example:
        >>> p = from_array(np.array([[0.0, 1.0], [1.0, 2.0]]), extent=(0, 2, 0, 2))
        >>> float(p.log_prob(torch.tensor([[1.5, 0.5]])).exp())  # bottom right: 2 / (4 * 1)
        0.5
        >>> round(p.entropy(), 4)
        1.0397
    """

    weights: np.ndarray
    extent: tuple[float, float, float, float]
    name: str = "picture"

    @property
    def shape(self) -> tuple[int, int]:
        return self.weights.shape  # type: ignore[return-value]

    @property
    def cell_size(self) -> tuple[float, float]:
        """Width and height of one pixel in data units."""
        x0, x1, y0, y1 = self.extent
        height, width = self.shape
        return (x1 - x0) / width, (y1 - y0) / height

    @property
    def cell_area(self) -> float:
        dx, dy = self.cell_size
        return dx * dy

    @property
    def masses(self) -> np.ndarray:
        """:math:`q_{ij} = w_{ij} / \\sum w`, the probability of each pixel, shape ``(H, W)``."""
        return self.weights / self.weights.sum()

    def entropy(self) -> float:
        """Exact differential entropy in nats: :math:`-\\sum q \\log(q / A)` over pixels with mass."""
        q = self.masses[self.masses > 0]
        return float(-(q * np.log(q / self.cell_area)).sum())

    def _cells(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Row, column and an inside-the-box mask for points ``x`` of shape ``(N, 2)``."""
        x0, x1, y0, y1 = self.extent
        height, width = self.shape
        column = torch.floor((x[:, 0] - x0) / (x1 - x0) * width).long()
        row = torch.floor((y1 - x[:, 1]) / (y1 - y0) * height).long()
        inside = (column >= 0) & (column < width) & (row >= 0) & (row < height)
        return row.clamp(0, height - 1), column.clamp(0, width - 1), inside

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact :math:`\\log p(x)` of points ``(N, 2)``, shape ``(N,)``; ``-inf`` where p = 0."""
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"expected points of shape (N, 2), got {tuple(x.shape)}")
        density = torch.as_tensor(self.masses / self.cell_area, dtype=torch.float64)
        row, column, inside = self._cells(x.detach().cpu().double())
        values = torch.where(inside, density[row, column], torch.zeros(()))
        return values.log().to(x.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` points of shape ``(n, 2)``, float32: a pixel drawn by mass, then a uniform spot in it."""
        if n < 1:
            raise ValueError(f"the number of samples must be at least 1, got {n}")
        q = torch.as_tensor(self.masses.ravel(), dtype=torch.float64)
        flat = torch.multinomial(q, n, replacement=True, generator=generator)
        width = self.shape[1]
        row, column = flat // width, flat % width
        offset = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        x0, _, _, y1 = self.extent
        dx, dy = self.cell_size
        xs = x0 + (column + offset[:, 0]) * dx
        ys = y1 - (row + offset[:, 1]) * dy
        return torch.stack([xs, ys], dim=1).float()


def _centred_extent(shape: tuple[int, int], half_width: float) -> tuple[float, float, float, float]:
    """A box centred at 0 with square pixels whose long side spans ``[-half_width, half_width]``."""
    height, width = shape
    scale = 2 * half_width / max(height, width)
    return (-width * scale / 2, width * scale / 2, -height * scale / 2, height * scale / 2)


def from_array(
    weights: np.ndarray,
    extent: tuple[float, float, float, float] | None = None,
    name: str = "picture",
    half_width: float = HALF_WIDTH,
) -> PictureDensity:
    """A `PictureDensity` from intensities ``(H, W)`` (brighter = more mass).

    Arguments:
        weights: nonnegative, finite intensities; not all zero.
        extent: the box; by default centred at 0 with square pixels, the long side spanning
            ``[-half_width, half_width]``.

    Raises:
        ValueError: the array is empty, not 2-D, negative or not finite somewhere, or all zero.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(
            f"a picture density needs a 2-D grayscale array (H, W), got shape {weights.shape}; "
            "average the colour channels first"
        )
    if weights.size == 0:
        raise ValueError("the picture is empty (no pixels); draw or type something first")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("pixel intensities must be finite and nonnegative")
    if not weights.sum() > 0:
        raise ValueError(
            "the picture is all black: no pixel carries any mass. Bright pixels become density; "
            "for dark ink on white paper use invert=True"
        )
    extent = extent if extent is not None else _centred_extent(weights.shape, half_width)
    x0, x1, y0, y1 = extent
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"the box must have x1 > x0 and y1 > y0, got {extent}")
    return PictureDensity(weights, tuple(float(v) for v in extent), name)


def _crop_to_ink(gray: np.ndarray, margin: int) -> np.ndarray:
    """The smallest rectangle holding every nonzero pixel, widened by ``margin`` pixels of zeros."""
    rows, columns = np.nonzero(gray)
    if rows.size == 0:
        return gray[:0, :0]
    cropped = gray[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    return np.pad(cropped, margin)


def from_text(
    text: str,
    height: int = 40,
    weight: str = "bold",
    margin: int = 2,
    half_width: float = HALF_WIDTH,
) -> PictureDensity:
    """A word as a density: rendered with matplotlib's own font (DejaVu Sans), white on black.

    Arguments:
        text: the word (one line).
        height: roughly the height of a capital letter, in pixels: the picture's resolution.
        weight: the font weight (``"bold"`` strokes are easier to learn than ``"normal"`` ones).
        margin: empty pixels left around the ink.

    Example:
        >>> p = from_text("FFJORD")
        >>> p.shape[1] > 3 * p.shape[0]  # a wide picture
        True
    """
    text = text.strip()
    if not text:
        raise ValueError("the text is empty; type a word (a few letters read best)")
    if "\n" in text or len(text) > 24:
        raise ValueError(f"give one line of at most 24 characters, got {len(text)}")
    # matplotlib only here: importing ffjord_edu (the CLI, a training run) should not pay for it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    font_points = height / 0.73 * 72 / dpi  # a capital letter is about 0.73 of the font size
    figure = Figure(figsize=(0.8 * height * (len(text) + 2) / dpi, 2.0 * height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    figure.patch.set_facecolor("black")
    figure.text(0.5, 0.5, text, color="white", fontsize=font_points, fontweight=weight,
                ha="center", va="center", family="DejaVu Sans")  # fmt: skip
    canvas.draw()
    gray = np.asarray(canvas.buffer_rgba())[:, :, 0].astype(np.float64) / 255.0
    gray = _crop_to_ink(gray, margin)
    if gray.size == 0:
        raise ValueError(f"the text {text!r} renders no ink (only spaces?); type a word")
    return from_array(gray, name=text, half_width=half_width)


def _read_bytes(source: str | Path | bytes) -> tuple[bytes, str]:
    """The file's bytes and a name for messages; refuses files over `MAX_FILE_BYTES`."""
    if isinstance(source, bytes | bytearray | memoryview):
        data, name = bytes(source), "the upload"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no picture file at {path}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(_too_big(f"{path.name} has {path.stat().st_size:,} bytes"))
        data, name = path.read_bytes(), path.name
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(_too_big(f"{name} has {len(data):,} bytes"))
    if not data:
        raise ValueError(f"{name} is empty (0 bytes); upload a PNG or JPEG picture")
    return data, name


def _too_big(what: str) -> str:
    return (
        f"the picture is too large: {what} (at most {MAX_FILE_BYTES:,} bytes and "
        f"{MAX_PIXELS:,} pixels). Shrink it first; a few hundred pixels a side is plenty"
    )


def _decode(data: bytes, name: str, max_side: int) -> np.ndarray:
    """Gray and opacity in [0, 1], shape ``(H, W, 2)``, at most ``max_side`` pixels a side.

    The size is read from the header before any pixel is decoded, so a huge picture is refused
    cheaply. Transparent pixels count as black (no mass).
    """
    from PIL import Image, UnidentifiedImageError  # matplotlib depends on Pillow

    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(
            f"cannot read {name} as a picture ({error}); upload a PNG or JPEG file"
        ) from error
    if width * height > MAX_PIXELS:
        raise ValueError(_too_big(f"{name} is {width}×{height} pixels"))
    try:
        image.load()
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float64) / 255.0
    except (OSError, ValueError) as error:
        raise ValueError(f"{name} is damaged and cannot be decoded ({error})") from error
    gray = rgba[:, :, :3].mean(axis=2)
    alpha = rgba[:, :, 3]
    return _shrink(gray, alpha, max_side)


def _shrink(gray: np.ndarray, alpha: np.ndarray, max_side: int) -> np.ndarray:
    """Gray and opacity stacked ``(H, W, 2)``, each averaged over ``k × k`` blocks, ``k`` the
    smallest factor that brings both sides to at most ``max_side``."""
    k = max(1, math.ceil(max(gray.shape) / max_side))
    height, width = (gray.shape[0] // k) * k, (gray.shape[1] // k) * k
    if height == 0 or width == 0:
        height, width, k = gray.shape[0], gray.shape[1], 1

    def blocks(a: np.ndarray) -> np.ndarray:
        return a[:height, :width].reshape(height // k, k, width // k, k).mean(axis=(1, 3))

    return np.stack([blocks(gray), blocks(alpha)], axis=2)


def from_image(
    source: str | Path | bytes,
    invert: bool | None = None,
    max_side: int = 96,
    half_width: float = HALF_WIDTH,
) -> PictureDensity:
    """A picture file (PNG, JPEG, anything Pillow reads) or its bytes (an upload) as a density.

    Arguments:
        source: a path, or the file's bytes.
        invert: ``True`` makes dark pixels carry the mass (ink on paper); ``None`` decides from
            the border: a bright border means paper, so the picture is inverted.
        max_side: larger pictures are averaged down to at most this many pixels a side.

    Raises:
        ValueError: the file is not a picture, is too large (`MAX_FILE_BYTES`, `MAX_PIXELS`),
            or has no ink (all black after inverting).
        FileNotFoundError: no file at the path.
    """
    data, name = _read_bytes(source)
    shrunk = _decode(data, name, max_side)
    gray, alpha = shrunk[:, :, 0], shrunk[:, :, 1]
    if invert is None:
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        border_alpha = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
        invert = bool(border_alpha.mean() > 0.5 and border.mean() > 0.5)
    weights = (1.0 - gray if invert else gray) * alpha
    weights = np.where(weights < 1e-3, 0.0, weights)  # JPEG noise in the paper is not ink
    return from_array(weights, name=Path(name).stem if name != "the upload" else name,
                      half_width=half_width)  # fmt: skip
