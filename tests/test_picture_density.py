"""Densities from pictures: normalised, exact entropy, sampler and density agree, clear errors."""

import io

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from ffjord_edu.datasets import picture


def png_bytes(array: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


def doodle() -> np.ndarray:
    """Black ink on white paper: a thick ring and a bar, 60 × 80 pixels."""
    ys, xs = np.mgrid[0:60, 0:80]
    radius = np.hypot(xs - 30, ys - 30)
    ink = ((radius > 12) & (radius < 20)) | ((xs > 55) & (xs < 62) & (ys > 10) & (ys < 50))
    return np.where(ink, 0, 255)


def small_random() -> picture.PictureDensity:
    rng = np.random.default_rng(0)
    weights = rng.random((6, 9))
    weights[rng.random((6, 9)) < 0.3] = 0.0  # some empty pixels
    return picture.from_array(weights, extent=(-2.0, 1.0, -0.5, 1.5))


PICTURES = {
    "text": lambda: picture.from_text("FFJORD"),
    "thin-text": lambda: picture.from_text("Hi", weight="normal", height=24),
    "random": small_random,
    "png": lambda: picture.from_image(png_bytes(doodle())),
    "jpeg": lambda: picture.from_image(png_bytes(doodle(), fmt="JPEG")),
}


@pytest.fixture(params=list(PICTURES), scope="module")
def density(request) -> picture.PictureDensity:
    return PICTURES[request.param]()


def test_integrates_to_one_on_a_grid(density):
    x0, x1, y0, y1 = density.extent
    height, width = density.shape
    # a fine grid of midpoints, not aligned with the pixels, over a box larger than the picture
    pad_x, pad_y = (x1 - x0) / 10, (y1 - y0) / 10
    nx, ny = (max(1000, 5 * side) for side in (width, height))
    hx, hy = (x1 - x0 + 2 * pad_x) / nx, (y1 - y0 + 2 * pad_y) / ny
    xs = x0 - pad_x + hx * (torch.arange(nx, dtype=torch.float64) + 0.5)
    ys = y0 - pad_y + hy * (torch.arange(ny, dtype=torch.float64) + 0.5)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), dim=-1).reshape(-1, 2)
    mass = float(density.log_prob(grid).exp().sum()) * hx * hy
    assert mass == pytest.approx(1.0, abs=0.01)


def test_zero_outside_the_box(density):
    x0, x1, y0, y1 = density.extent
    outside = torch.tensor([[x0 - 0.01, 0.0], [x1 + 0.01, 0.0], [0.0, y0 - 0.01], [0.0, y1 + 0.01]])
    assert torch.isneginf(density.log_prob(outside)).all()


def test_entropy_matches_monte_carlo(density):
    x = density.sample(20_000, generator=torch.Generator().manual_seed(1))
    minus_log_p = -density.log_prob(x.double())
    assert torch.isfinite(minus_log_p).all()  # no sample in an empty pixel
    estimate = float(minus_log_p.mean())
    standard_error = float(minus_log_p.std()) / len(minus_log_p) ** 0.5
    assert abs(estimate - density.entropy()) < 3 * standard_error + 1e-9


def test_entropy_of_a_uniform_box_is_log_area():
    uniform = picture.from_array(np.ones((5, 7)), extent=(0.0, 3.0, 0.0, 2.0))
    assert uniform.entropy() == pytest.approx(np.log(6.0))


def pixel_counts(density: picture.PictureDensity, x: torch.Tensor) -> np.ndarray:
    row, column, inside = density._cells(x.double())
    assert inside.all()
    counts = np.zeros(density.shape)
    np.add.at(counts, (row.numpy(), column.numpy()), 1)
    return counts


@pytest.mark.parametrize("name", ["random", "text"])
def test_sampling_matches_the_density_chi_square(name):
    density = PICTURES[name]()
    n = 40_000
    x = density.sample(n, generator=torch.Generator().manual_seed(2))
    counts = pixel_counts(density, x)
    masses = density.masses
    assert counts[masses == 0].sum() == 0
    if name == "text":  # pool pixels into 8 × 8 blocks so that every cell expects many samples
        h, w = (s // 8 * 8 for s in density.shape)
        counts = counts[:h, :w].reshape(h // 8, 8, w // 8, 8).sum(axis=(1, 3))
        masses = masses[:h, :w].reshape(h // 8, 8, w // 8, 8).sum(axis=(1, 3))
        n = int(counts.sum())
    keep = masses > 0
    expected, counts = masses[keep] / masses[keep].sum() * n, counts[keep]
    rare = expected < 5  # the usual rule: pool the cells that expect few samples into one
    assert rare.sum() < 0.2 * rare.size
    if rare.any():
        counts = np.append(counts[~rare], counts[rare].sum())
        expected = np.append(expected[~rare], expected[rare].sum())
    _, p_value = stats.chisquare(counts, expected)
    assert p_value > 1e-3


def test_sampling_is_uniform_within_a_pixel():
    one = picture.from_array(np.ones((1, 1)), extent=(0.0, 2.0, 0.0, 1.0))
    x = one.sample(20_000, generator=torch.Generator().manual_seed(3))
    for column, width in ((x[:, 0], 2.0), (x[:, 1], 1.0)):
        assert stats.kstest(column.numpy() / width, "uniform").pvalue > 1e-3


def test_image_rows_run_top_to_bottom():
    top_only = np.zeros((4, 4))
    top_only[0] = 1.0
    x = picture.from_array(top_only).sample(100)
    assert (x[:, 1] > 0).all()


def test_ink_on_paper_is_inverted_automatically():
    density = picture.from_image(png_bytes(doodle()))
    ink = doodle() == 0
    assert density.weights[ink].min() > 0.9 and density.weights[~ink].max() == 0


def test_reads_a_png_file(tmp_path):
    path = tmp_path / "ring.png"
    path.write_bytes(png_bytes(doodle()))
    density = picture.from_image(path)
    assert density.name == "ring" and density.shape == (60, 80)


def test_large_pictures_are_averaged_down():
    big = np.kron(doodle(), np.ones((4, 4)))  # 240 × 320
    density = picture.from_image(png_bytes(big), max_side=80)
    assert max(density.shape) <= 80


def test_transparent_background_carries_no_mass():
    rgba = np.zeros((10, 10, 4))
    rgba[2:5, 2:5] = (200, 200, 200, 255)  # an opaque grey square on transparent white
    rgba[..., :3] = np.where(rgba[..., 3:] > 0, rgba[..., :3], 255)
    density = picture.from_image(png_bytes(rgba, mode="RGBA"))
    assert density.weights[2:5, 2:5].min() > 0 and density.weights.sum() == pytest.approx(
        density.weights[2:5, 2:5].sum()
    )


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: picture.from_text(""), ValueError, "the text is empty"),
        (lambda: picture.from_text("   "), ValueError, "the text is empty"),
        (lambda: picture.from_text("x" * 40), ValueError, "at most 24 characters"),
        (lambda: picture.from_array(np.zeros((0, 5))), ValueError, "empty"),
        (lambda: picture.from_array(np.zeros((8, 8))), ValueError, "all black"),
        (lambda: picture.from_array(-np.ones((3, 3))), ValueError, "nonnegative"),
        (lambda: picture.from_array(np.ones((3, 3, 3))), ValueError, "2-D grayscale"),
        (lambda: picture.from_image(png_bytes(np.zeros((9, 9)))), ValueError, "all black"),
        (lambda: picture.from_image(png_bytes(np.full((9, 9), 255))), ValueError, "all black"),
        (lambda: picture.from_image(b"this is not a picture"), ValueError, "PNG or JPEG"),
        (lambda: picture.from_image(png_bytes(doodle())[:200]), ValueError, "damaged"),
        (lambda: picture.from_image(b""), ValueError, "empty"),
        (lambda: picture.from_image("no/such/file.png"), FileNotFoundError, "no picture file"),
    ],
    ids=[
        "empty-text",
        "blank-text",
        "long-text",
        "empty-array",
        "black-array",
        "negative",
        "colour-array",
        "black-png",
        "blank-paper",
        "not-a-picture",
        "truncated-png",
        "empty-upload",
        "missing-file",
    ],
)
def test_bad_input_gets_a_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_huge_upload_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(picture, "MAX_PIXELS", 1000)
    with pytest.raises(ValueError, match="too large: the upload is 40×50 pixels"):
        picture.from_image(png_bytes(np.zeros((50, 40))))


def test_huge_file_is_refused_before_reading(monkeypatch, tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_bytes(doodle()))
    monkeypatch.setattr(picture, "MAX_FILE_BYTES", 100)
    with pytest.raises(ValueError, match=r"too large: huge\.png has"):
        picture.from_image(path)
    with pytest.raises(ValueError, match="too large: the upload has"):
        picture.from_image(path.read_bytes())


def test_the_default_pixel_bound_refuses_a_decompression_bomb():
    """A 7000 × 7000 picture (49 megapixels, a few kB as PNG) is refused from its header."""
    bomb = Image.new("1", (7000, 7000))
    buffer = io.BytesIO()
    bomb.save(buffer, format="PNG")
    with pytest.raises(ValueError, match="7000×7000 pixels"):
        picture.from_image(buffer.getvalue())
