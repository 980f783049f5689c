"""Image data for the image models: digits embedded, MNIST and CIFAR-10 from local files.

Three sets, all returned as ``uint8`` tensors of shape ``(N, C, H, W)`` holding the integer pixel
levels ``0 … levels − 1``:

- ``digits`` (the default): the 1,797 real handwritten 8×8 digits shipped inside scikit-learn
  (levels 0…16, so ``levels = 17``). No files, no download; a fixed seeded split into
  1,257 training, 180 validation and 360 test images.
- ``mnist``: 28×28×1, 256 levels, read from the original idx files (``.gz`` or not).
- ``cifar10``: 32×32×3, 256 levels, read from the python-pickle batches of the official release.

The readers are written out here (each is a few lines of a well-specified format) rather than
taken from torchvision, so the package does not need it; torchvision's download is one way to
get the files, and its folder layout is accepted. For MNIST and CIFAR-10 the last 5,000 images
of the training file are held out as the validation split, and the test file is the test split.

A density model of images works on continuous values, so the integer pixels are *dequantised*
(uniform noise added, then scaled into the unit cube) and usually passed through a *logit
transform*; likelihoods are reported in *bits per dimension* of the discrete pixel data (both in
`ffjord_edu.models.pixels`):

    y = (x + u) / L,  u ~ U[0, 1)^D          (dequantisation; y in [0, 1)^D)
    s = α + (1 − 2α) y,  w = log s − log(1 − s)          (the logit transform)
    log p(y) = log p_model(w) + Σ_i log|dw_i/dy_i|
    bits/dim = −(log p(y) − D log L) / (D log 2)

where ``D = C·H·W`` and ``L = levels``. Since ``log P(x) ≥ E_u[log p(y)] − D log L`` (Theis et
al., 2016), the bits/dim of a dequantised model bound the discrete ones from above.

References:
    W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud. FFJORD:
    Free-form Continuous Dynamics for Scalable Reversible Generative Models. ICLR 2019.

    L. Dinh, J. Sohl-Dickstein, S. Bengio. Density estimation using Real NVP. ICLR 2017
    (the logit transform and its α).

    L. Theis, A. van den Oord, M. Bethge. A note on the evaluation of generative models.
    ICLR 2016 (uniform dequantisation and the bound).
"""

from __future__ import annotations

import gzip
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn.datasets
import torch

from ..options import check_choice
from .safe_pickle import UnsafePickleError, restricted_load

__all__ = [
    "DEFAULT",
    "DIGITS_SPLIT",
    "DOWNLOAD",
    "NAMES",
    "ImageData",
    "binarize",
    "binary_vectors",
    "check_name",
    "dequantize",
    "load",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "read_cifar10_batch",
    "read_idx",
]

NAMES: tuple[str, ...] = ("digits", "mnist", "cifar10")

DEFAULT: str = "digits"

# Sizes of the fixed digits split (train, validation, test) and the seed of its permutation.
DIGITS_SPLIT: tuple[int, int, int] = (1257, 180, 360)
_DIGITS_SEED = 0

# How many images at the end of the MNIST / CIFAR-10 training files form the validation split.
_VALIDATION_SIZE = 5000

DOWNLOAD: dict[str, str] = {
    "mnist": (
        'Download it with torchvision: python -c "import torchvision; '
        "torchvision.datasets.MNIST('ROOT', download=True)\" (writes ROOT/MNIST/raw/), or fetch "
        "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
        "t10k-labels-idx1-ubyte.gz from https://ossci-datasets.s3.amazonaws.com/mnist/ into ROOT."
    ),
    "cifar10": (
        'Download it with torchvision: python -c "import torchvision; '
        "torchvision.datasets.CIFAR10('ROOT', download=True)\", or run "
        "wget https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz && "
        "tar -xzf cifar-10-python.tar.gz -C ROOT (both write ROOT/cifar-10-batches-py/)."
    ),
}


@dataclass(frozen=True)
class ImageData:
    """One image data set: ``uint8`` pixel levels of shape ``(N, C, H, W)`` in three splits.

    Attributes:
        name: the data set's name, one of ``NAMES``.
        train, validation, test: ``uint8`` tensors with values in ``0 … levels − 1``.
        levels: how many pixel values there are: 17 for digits (0…16), 256 for MNIST/CIFAR-10.
        train_labels, validation_labels, test_labels: the class of each image (int64), kept for
            pictures and conditional experiments; the density models ignore them.
    """

    name: str
    train: torch.Tensor
    validation: torch.Tensor
    test: torch.Tensor
    levels: int
    train_labels: torch.Tensor | None = None
    validation_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.train.shape[1:])  # type: ignore[return-value]

    @property
    def dim(self) -> int:
        """``D = C·H·W``, the number of dimensions bits/dim divides by."""
        return math.prod(self.shape)

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{split}={getattr(self, split).shape[0]}" for split in ("train", "validation", "test")
        )
        return f"ImageData(name='{self.name}', shape={self.shape}, levels={self.levels}, {sizes})"


def check_name(name: str) -> None:
    check_choice("image data set", name, NAMES)


def load(name: str = DEFAULT, root: str | os.PathLike[str] | None = None) -> ImageData:
    """Load an image data set by name.

    Arguments:
        name: one of ``NAMES``; the default, ``"digits"``, needs no files.
        root: for ``"mnist"`` and ``"cifar10"``, the folder that holds the files (torchvision's
            ``root`` works as is); ignored for ``"digits"``.

    Returns:
        ImageData with ``uint8`` splits of shape ``(N, C, H, W)``.

    Example:
        >>> data = load("digits")
        >>> data
        ImageData(name='digits', shape=(1, 8, 8), levels=17, train=1257, validation=180, test=360)
        >>> int(data.train.max()), data.train.dtype
        (16, torch.uint8)
    """
    check_name(name)
    if name == "digits":
        return load_digits()
    if root is None:
        raise ValueError(
            f"the {name} data set is read from files: pass root, the folder that holds them. "
            f"{DOWNLOAD[name]}"
        )
    return load_mnist(root) if name == "mnist" else load_cifar10(root)


def load_digits() -> ImageData:
    """scikit-learn's 1,797 handwritten digits (UCI optdigits test set), 8×8 with levels 0…16.

    The split is a fixed permutation (NumPy seed 0) into ``DIGITS_SPLIT`` = 1,257 training,
    180 validation and 360 test images, the same on every machine.
    """
    bunch = sklearn.datasets.load_digits()
    images = np.asarray(bunch.images, dtype=np.uint8).reshape(-1, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    order = np.random.RandomState(_DIGITS_SEED).permutation(len(images))
    n_train, n_validation, _ = DIGITS_SPLIT
    parts = np.split(order, [n_train, n_train + n_validation])
    return ImageData(
        "digits",
        *(torch.from_numpy(images[p].copy()) for p in parts),
        levels=17,
        **{
            f"{split}_labels": torch.from_numpy(labels[p].copy())
            for split, p in zip(("train", "validation", "test"), parts, strict=True)
        },
    )


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one file in the idx format of the MNIST release (``.gz`` or not).

    The format: two zero bytes, a type byte (``0x08`` = unsigned byte), the number of
    dimensions ``n``, then ``n`` big-endian 32-bit sizes, then the values in C order.
    """
    path = Path(path)
    try:
        data = (gzip.decompress if path.suffix == ".gz" else bytes)(path.read_bytes())
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} cannot be decompressed ({error}): replace the file") from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes (its header is wrong)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path} is truncated: its header promises {ndim} sizes")
    shape = tuple(int(s) for s in np.frombuffer(data, ">i4", count=ndim, offset=4))
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if values.size != math.prod(shape):
        raise ValueError(f"{path} holds {values.size} values but its header says {shape}")
    return values.reshape(shape)


def _find(root: Path, names: tuple[str, ...], name: str) -> list[Path]:
    """The files ``names`` in the first of root, root/MNIST/raw that has them all (or .gz)."""
    for folder in (root, root / "MNIST" / "raw"):
        found = []
        for file in names:
            candidates = [folder / file, folder / f"{file}.gz"]
            found.append(next((c for c in candidates if c.is_file()), None))
        if all(found):
            return found  # type: ignore[return-value]
    raise FileNotFoundError(
        f"no {name} files under {root}: looked for {', '.join(names)} (or .gz) in {root} and "
        f"{root / 'MNIST' / 'raw'}. {DOWNLOAD[name].replace('ROOT', str(root))}"
    )


def _split_off_validation(name: str, train, train_labels, test, test_labels) -> ImageData:
    cut = len(train) - _VALIDATION_SIZE if len(train) > 2 * _VALIDATION_SIZE else len(train) // 2
    tensor = torch.from_numpy
    return ImageData(
        name,
        tensor(train[:cut].copy()),
        tensor(train[cut:].copy()),
        tensor(test.copy()),
        levels=256,
        train_labels=tensor(train_labels[:cut].astype(np.int64)),
        validation_labels=tensor(train_labels[cut:].astype(np.int64)),
        test_labels=tensor(test_labels.astype(np.int64)),
    )


def load_mnist(root: str | os.PathLike[str]) -> ImageData:
    """MNIST from its idx files under ``root`` (or ``root/MNIST/raw``, torchvision's layout).

    Returns 28×28×1 images with 256 levels: the last 5,000 training images are the validation
    split (half the training file when it holds fewer than 10,000), the t10k file the test split.
    """
    files = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    files += ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    paths = _find(Path(root), files, "mnist")
    train, train_labels, test, test_labels = (read_idx(p) for p in paths)
    _check_mnist_images(train, paths[0])
    _check_mnist_images(test, paths[2])
    train_labels = _checked_labels(train_labels, len(train), 10, paths[1])
    test_labels = _checked_labels(test_labels, len(test), 10, paths[3])
    return _split_off_validation("mnist", train[:, None], train_labels, test[:, None], test_labels)


def _check_mnist_images(images: np.ndarray, path: Path) -> None:
    """MNIST images are (N, 28, 28) with N >= 2; a labels file put in their place is (N,)."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        hint = " (is it a labels file under an images name?)" if images.ndim == 1 else ""
        raise ValueError(
            f"{path} holds an array of shape {images.shape}, not 28x28 images (N, 28, 28){hint}"
        )
    if len(images) < 2:
        raise ValueError(f"{path} holds {len(images)} images; at least 2 are needed")


def read_cifar10_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch: a pickled dict with ``b"data"`` (N, 3072) uint8 (the 1,024
    red, then green, then blue values of each image, row by row) and ``b"labels"``.

    The batch is a pickle, and a pickle can run code, so it is read by
    `ffjord_edu.datasets.safe_pickle`, which rebuilds numpy arrays and plain builtins only: a
    crafted file is refused with `~ffjord_edu.datasets.safe_pickle.UnsafePickleError` and
    nothing in it runs.

    Returns:
        images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64.
    """
    path = Path(path)
    with path.open("rb") as file:
        try:
            batch = restricted_load(file, "numpy", str(path), encoding="bytes")
        except UnsafePickleError:
            raise
        except Exception as error:
            raise ValueError(
                f"{path} is not a CIFAR-10 python batch ({type(error).__name__}: {error}); "
                f"it is truncated or damaged: replace it. {DOWNLOAD['cifar10']}"
            ) from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(
            f"{path} is not a CIFAR-10 python batch: expected a dict with b'data' and "
            f"b'labels', found {type(batch).__name__}"
            + (f" with keys {sorted(batch)}" if isinstance(batch, dict) else "")
        )
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    return data.reshape(-1, 3, 32, 32), _checked_labels(labels, len(data), 10, path)


def _checked_labels(labels: np.ndarray, count: int, classes: int, path: Path) -> np.ndarray:
    """``labels`` as int64 after checking there is one class in ``0 … classes−1`` per image."""
    if labels.ndim != 1 or len(labels) != count:
        raise ValueError(
            f"{path} holds {count} images but labels of shape {labels.shape}: each image needs "
            "exactly one label; the file is truncated or from another data set"
        )
    if not np.issubdtype(labels.dtype, np.integer) or (
        count and (labels.min() < 0 or labels.max() >= classes)
    ):
        raise ValueError(f"{path}: labels must be integers in 0 … {classes - 1}")
    return labels.astype(np.int64)


def load_cifar10(root: str | os.PathLike[str]) -> ImageData:
    """CIFAR-10 from ``root/cifar-10-batches-py`` (or ``root`` itself holding the batches).

    Returns 32×32×3 images with 256 levels: ``data_batch_1 … 5`` give training (the last
    5,000 images are the validation split), ``test_batch`` the test split.
    """
    root = Path(root)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    folder = next(
        (f for f in (root / "cifar-10-batches-py", root) if all((f / n).is_file() for n in names)),
        None,
    )
    if folder is None:
        raise FileNotFoundError(
            f"no cifar10 files under {root}: looked for {', '.join(names)} in "
            f"{root / 'cifar-10-batches-py'} and {root}. "
            f"{DOWNLOAD['cifar10'].replace('ROOT', str(root))}"
        )
    batches = [read_cifar10_batch(folder / n) for n in names]
    if sum(len(b[0]) for b in batches[:5]) < 2 or len(batches[5][0]) < 1:
        raise ValueError(f"the CIFAR-10 batches in {folder} hold too few images to split")
    train = np.concatenate([b[0] for b in batches[:5]])
    train_labels = np.concatenate([b[1] for b in batches[:5]])
    return _split_off_validation("cifar10", train, train_labels, *batches[5])


def binarize(images: torch.Tensor, levels: int) -> torch.Tensor:
    """Fixed binarisation: ``1.0`` where ``pixel / (levels − 1) > 0.5``, else ``0.0`` (float).

    Example:
        >>> binarize(torch.tensor([0, 8, 9, 16], dtype=torch.uint8), levels=17)
        tensor([0., 0., 1., 1.])
    """
    return (images.float() / (levels - 1) > 0.5).float()


def dequantize(
    images: torch.Tensor, levels: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Uniform dequantisation: ``y = (x + u) / levels`` with ``u ~ U[0, 1)`` per pixel.

    Each integer level ``k`` becomes the interval ``[k/L, (k+1)/L)``, so ``y`` fills the unit
    cube and a density on ``y`` integrates to a probability for each discrete image.

    Example:
        >>> y = dequantize(torch.tensor([0, 16], dtype=torch.uint8), levels=17)
        >>> bool((y[0] < 1 / 17) & (y[1] >= 16 / 17))
        True
    """
    x = images.float()
    noise = torch.rand(x.shape, generator=generator, device=x.device)
    return (x + noise) / levels


def binary_vectors(images_uint8: torch.Tensor, levels: int) -> torch.Tensor:
    """Images ``(N, C, H, W)`` of integer levels → fixed-binarised float rows ``(N, C·H·W)``."""
    return binarize(images_uint8, levels).flatten(start_dim=1)
