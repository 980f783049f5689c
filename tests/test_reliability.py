"""Hostile files, careless options, crashed runs: nothing executes, nothing is silently wrong.

Each test feeds one case of issue 19 and asserts the refusal or the message. The hostile files
carry a payload that would create a file if it ran, and the tests check that file never appears
(and, once, that the same payload does run under plain ``pickle``, so the check can fail).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ffjord_edu.datasets import images, tabular
from ffjord_edu.datasets.safe_pickle import UnsafePickleError

# --- payloads -----------------------------------------------------------------------------------


class _Touch:
    """Unpickles into a call of ``Path.touch`` (through ``os.system``-like reduction)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _MemmapTouch:
    """A payload that stays inside numpy: ``numpy.memmap(path, mode="w+")`` creates a file."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (np.memmap, (str(self.target), np.uint8, "w+", 0, (1,)))


class _ReadPickle:
    """A payload that stays inside pandas: ``pandas.read_pickle`` would unpickle another file."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (pd.read_pickle, (str(self.target),))


def test_the_payload_runs_under_plain_pickle(tmp_path):
    target = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Touch(target)))
    assert target.exists()  # so the "never ran" checks below are meaningful


def _cifar_folder(root: Path, poisoned: object) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    good = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {**good, b"labels": poisoned} if name == "data_batch_3" else good
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


@pytest.mark.parametrize("payload", [_Touch, _MemmapTouch, _ReadPickle])
def test_a_code_executing_cifar_batch_is_refused_and_never_runs(tmp_path, payload):
    target = tmp_path / "ran"
    if payload is _ReadPickle:
        pickle.dump(_Touch(target), (tmp_path / "inner.pickle").open("wb"))
        target_arg = tmp_path / "inner.pickle"
    else:
        target_arg = target
    _cifar_folder(tmp_path / "data", payload(target_arg))
    with pytest.raises(UnsafePickleError, match=r"data_batch_3 asks to load .* nothing"):
        images.load("cifar10", tmp_path / "data")
    assert not target.exists() and not (tmp_path / "ran").exists()


@pytest.mark.parametrize("payload", [_Touch, _MemmapTouch, _ReadPickle])
def test_a_code_executing_gas_pickle_is_refused_and_never_runs(tmp_path, payload):
    target = tmp_path / "ran"
    if payload is _ReadPickle:
        pickle.dump(_Touch(target), (tmp_path / "inner.pickle").open("wb"))
        poisoned = payload(tmp_path / "inner.pickle")
    else:
        poisoned = payload(target)
    (tmp_path / "gas").mkdir()
    frame = pd.DataFrame({"Meth": [poisoned]})
    with open(tmp_path / "gas" / "ethylene_CO.pickle", "wb") as file:
        pickle.dump(frame, file, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"ethylene_CO\.pickle asks to load"):
        tabular.load("gas", tmp_path)
    assert not target.exists()


# --- tabular and image loaders: damaged files are named, never silently loaded -------------------


def _hepmass(root: Path, rows: int = 300, separator: str = ",", truncate: bool = False) -> None:
    rng = np.random.default_rng(0)
    (root / "hepmass").mkdir(parents=True, exist_ok=True)
    header = separator.join(["# label", *(f"f{i}" for i in range(27))])
    for name, extra in (("1000_train.csv", 0), ("1000_test.csv", 1)):
        table = rng.standard_normal((rows, 28 + extra))
        table[:, 0] = 1
        lines = [header + (separator + "mass" if extra else "")]
        lines += [separator.join(f"{v:.6g}" for v in row) for row in table]
        text = "\n".join(lines) + "\n"
        if truncate and name == "1000_train.csv":
            text = text[: len(text) - 200]  # the last line loses its last columns
        (root / "hepmass" / name).write_text(text)


def test_a_truncated_hepmass_csv_is_refused_with_the_line(tmp_path):
    _hepmass(tmp_path, truncate=True)
    with pytest.raises(ValueError, match=r"1000_train\.csv has \d+ missing values .*line 301"):
        tabular.load("hepmass", tmp_path)


def test_a_semicolon_separated_hepmass_csv_is_refused(tmp_path):
    _hepmass(tmp_path, separator=";")
    with pytest.raises(ValueError, match=r"1000_train\.csv has 1 column.*separated by ';'"):
        tabular.load("hepmass", tmp_path)


def test_nan_wrong_dimension_and_empty_splits_are_refused(tmp_path):
    (tmp_path / "miniboone").mkdir()
    path = tmp_path / "miniboone" / "data.npy"
    data = np.random.default_rng(0).standard_normal((100, 43))
    damaged = data.copy()
    damaged[95, 7] = np.nan
    np.save(path, damaged)
    with pytest.raises(ValueError, match=r"data\.npy gave 1 NaN or infinite values in the test"):
        tabular.load("miniboone", tmp_path)
    np.save(path, data[:, :40])
    with pytest.raises(ValueError, match=r"data\.npy gave D = 40 columns .* has D = 43"):
        tabular.load("miniboone", tmp_path)
    np.save(path, data[:5])
    with pytest.raises(ValueError, match="too few for three non-empty splits"):
        tabular.load("miniboone", tmp_path)
    np.save(path, np.array([{"a": 1}], dtype=object))  # object arrays would need unpickling
    with pytest.raises(ValueError, match=r"data\.npy is not a numeric \.npy array"):
        tabular.load("miniboone", tmp_path)


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _mnist(root: Path, n_images: int = 200, n_labels: int = 200, swap: bool = False) -> None:
    root.mkdir(parents=True, exist_ok=True)
    images_, labels = np.zeros((n_images, 28, 28)), np.arange(n_labels) % 10
    files = {"train-images-idx3-ubyte": images_, "train-labels-idx1-ubyte": labels}
    files |= {"t10k-images-idx3-ubyte": images_[:10], "t10k-labels-idx1-ubyte": labels[:10]}
    if swap:
        files["train-images-idx3-ubyte"], files["train-labels-idx1-ubyte"] = labels, images_
    for name, array in files.items():
        _write_idx(root / name, array)


def test_mnist_counts_and_shapes_must_agree(tmp_path):
    _mnist(tmp_path / "good")
    assert len(images.load("mnist", tmp_path / "good").train) == 100
    _mnist(tmp_path / "short", n_labels=120)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte holds 200 images but labels"):
        images.load("mnist", tmp_path / "short")
    _mnist(tmp_path / "swapped", swap=True)
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte .*labels file"):
        images.load("mnist", tmp_path / "swapped")


def test_cifar_batches_with_too_few_labels_or_wrong_shapes_are_named(tmp_path):
    folder = _cifar_folder(tmp_path / "labels", [0])  # 2 images, 1 label
    with pytest.raises(ValueError, match=r"data_batch_3 holds 2 images but labels"):
        images.load("cifar10", folder.parent)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8)}))
    with pytest.raises(ValueError, match=r"test_batch is not a CIFAR-10 python batch"):
        images.read_cifar10_batch(folder / "test_batch")
    (folder / "test_batch").write_bytes(b"\x80\x02truncated")
    with pytest.raises(ValueError, match=r"test_batch is not a CIFAR-10 python batch"):
        images.read_cifar10_batch(folder / "test_batch")
