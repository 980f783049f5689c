"""Image data: the embedded digits, the MNIST and CIFAR-10 readers on small files in the real
formats, dequantisation, the logit transform's log-determinant and bits/dim."""

import gzip
import math
import pickle

import numpy as np
import pytest
import sklearn.datasets
import torch

from ffjord_edu.datasets import images
from ffjord_edu.models.pixels import bits_per_dim, logit_inverse, logit_transform


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    """An idx file as the MNIST release writes it: 0, 0, type 0x08, ndim, big-endian sizes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def write_mnist(folder, n_train: int = 12, n_test: int = 4, compress: bool = False):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if compress else "")), array, compress)
    return arrays


def test_digits_split_is_fixed_and_documented():
    data = images.load()
    assert data.name == "digits" and data.levels == 17 and data.shape == (1, 8, 8)
    sizes = tuple(len(s) for s in (data.train, data.validation, data.test))
    assert sizes == images.DIGITS_SPLIT and sum(sizes) == 1797
    assert data.train.dtype == torch.uint8 and int(data.train.max()) == 16
    again = images.load("digits")
    assert torch.equal(data.test, again.test)
    # The three splits are a permutation of scikit-learn's 1,797 images.
    every = torch.cat([data.train, data.validation, data.test]).flatten(1).double()
    original = torch.from_numpy(sklearn.datasets.load_digits().data)
    assert torch.equal(every.sum(0), original.sum(0))
    labels = torch.cat([data.train_labels, data.validation_labels, data.test_labels])
    assert torch.equal(
        labels.bincount(), torch.from_numpy(sklearn.datasets.load_digits().target).bincount()
    )


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_mnist_reader(tmp_path, compress, layout):
    folder = tmp_path if layout == "flat" else tmp_path / "MNIST" / "raw"
    arrays = write_mnist(folder, compress=compress)
    data = images.load("mnist", tmp_path)
    assert data.levels == 256 and data.shape == (1, 28, 28)
    # Fewer than 10,000 training images: half of them are held out for validation.
    assert len(data.train) == 6 and len(data.validation) == 6 and len(data.test) == 4
    assert np.array_equal(data.train[:, 0].numpy(), arrays["train-images-idx3-ubyte"][:6])
    assert np.array_equal(data.test_labels.numpy(), arrays["t10k-labels-idx1-ubyte"])


def test_cifar10_reader(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (3, 3072)).astype(np.uint8),
            b"labels": rng.integers(0, 10, 3).tolist(),
        }
        batches[name] = batch
        (folder / name).write_bytes(pickle.dumps(batch))
    data = images.load("cifar10", tmp_path)
    assert data.shape == (3, 32, 32) and data.levels == 256
    assert len(data.train) + len(data.validation) == 15 and len(data.test) == 3
    first = batches["data_batch_1"][b"data"][0]
    # Channel-major rows: the first 1,024 values are the red plane, row by row.
    assert np.array_equal(data.train[0, 0].numpy().ravel(), first[:1024])
    assert np.array_equal(data.train[0, 2, 31].numpy(), first[-32:])


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_missing_files_name_the_download(tmp_path, name):
    with pytest.raises(FileNotFoundError, match="download=True"):
        images.load(name, tmp_path)
    with pytest.raises(ValueError, match="pass root"):
        images.load(name)


def test_bad_idx_header_and_unknown_name(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="not an idx file"):
        images.read_idx(tmp_path / "bad")
    with pytest.raises(ValueError, match="choose one of: digits, mnist, cifar10"):
        images.load("svhn")


def test_binarize_threshold():
    pixels = torch.arange(17, dtype=torch.uint8)
    assert images.binarize(pixels, 17).tolist() == [0.0] * 9 + [1.0] * 8


def test_dequantized_values_fall_in_their_cells():
    pixels = torch.randint(0, 17, (1000,), dtype=torch.uint8)
    y = images.dequantize(pixels, 17, torch.Generator().manual_seed(0))
    assert torch.equal((y * 17).floor().to(torch.uint8), pixels)
    # The noise is uniform: its mean over many cells is one half.
    assert abs(float((y * 17 - pixels.float()).mean()) - 0.5) < 0.03


@pytest.mark.parametrize("alpha", [0.0, 1e-6, 0.05])
def test_logit_log_det_matches_autograd_jacobian(alpha):
    y = torch.rand(1, 1, 3, 3, dtype=torch.float64) * 0.98 + 0.01
    w, log_det = logit_transform(y, alpha)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: logit_transform(v.reshape(y.shape), alpha)[0].flatten(), y.flatten()
    )
    assert torch.allclose(log_det, torch.linalg.slogdet(jacobian)[1].reshape(1))
    assert torch.allclose(logit_inverse(w, alpha), y)


def test_bits_per_dim_of_a_uniform_and_a_point_model():
    # A uniform density on the unit cube gives every discrete image probability L^-D.
    assert float(bits_per_dim(torch.zeros(1), 64, 17)) == pytest.approx(math.log2(17))
    # A model putting all mass in one cell has density L^D there: 0 bits.
    assert float(bits_per_dim(torch.tensor([64 * math.log(17)]), 64, 17)) == pytest.approx(
        0.0, abs=1e-12
    )
