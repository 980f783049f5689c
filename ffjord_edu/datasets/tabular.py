"""The tabular density-estimation benchmarks of MAF and FFJORD, plus a small embedded default.

Five sets come from the files of the MAF data release (Papamakarios, 2018): POWER, GAS, HEPMASS,
MINIBOONE and BSDS300. Each loader reads the files under a root folder and applies the
preprocessing of the MAF paper exactly as its released code does, so that negative
log-likelihoods are comparable with the published tables (FFJORD used the same loaders). Where
the released code and its comments disagree, the code is followed and the docstring says so.

The sixth set, ``breast_cancer``, ships inside scikit-learn: it needs no files, no download and
trains in seconds on a laptop, with the same split-and-standardise protocol.

References:
    G. Papamakarios, T. Pavlakou, I. Murray. Masked Autoregressive Flow for Density
    Estimation. NeurIPS 2017 (the preprocessing; data: doi:10.5281/zenodo.1161203).

    W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud. FFJORD:
    Free-form Continuous Dynamics for Scalable Reversible Generative Models. ICLR 2019.
"""

import dataclasses
import importlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import sklearn.datasets
import torch

from ..options import check_choice
from .safe_pickle import UnsafePickleError, restricted_load

__all__ = [
    "DEFAULT",
    "DOWNLOAD",
    "FILES",
    "NAMES",
    "TabularData",
    "check_name",
    "load",
    "load_breast_cancer",
    "load_bsds300",
    "load_gas",
    "load_hepmass",
    "load_miniboone",
    "load_power",
]

NAMES: tuple[str, ...] = ("power", "gas", "hepmass", "miniboone", "bsds300", "breast_cancer")

DEFAULT: str = "breast_cancer"

# Where each file-based set lives under the root folder: the layout of the MAF release.
FILES: dict[str, tuple[str, ...]] = {
    "power": ("power/data.npy",),
    "gas": ("gas/ethylene_CO.pickle",),
    "hepmass": ("hepmass/1000_train.csv", "hepmass/1000_test.csv"),
    "miniboone": ("miniboone/data.npy",),
    "bsds300": ("BSDS300/BSDS300.hdf5",),
}

DOWNLOAD: str = (
    "Get the files from the MAF data release on Zenodo (G. Papamakarios, 'Preprocessed datasets "
    "for MAF experiments', record 1161203, doi:10.5281/zenodo.1161203): download "
    "https://zenodo.org/records/1161203/files/data.tar.gz (about 820 MB) and unpack it with "
    "`tar -xzf data.tar.gz`. It unpacks into a folder `data/`; pass that folder as root, so "
    "that root/power/data.npy, root/gas/ethylene_CO.pickle, root/hepmass/1000_train.csv, "
    "root/miniboone/data.npy and root/BSDS300/BSDS300.hdf5 exist."
)

# The breast-cancer features kept, in this order; see load_breast_cancer for why.
_BREAST_CANCER_FEATURES: tuple[str, ...] = (
    "mean area",
    "mean compactness",
    "mean texture",
    "mean smoothness",
    "mean symmetry",
    "mean fractal dimension",
)

# The columns of power/data.npy, named as the MAF code names their noise.
_POWER_COLUMNS: tuple[str, ...] = (
    "global active power",
    "global reactive power",
    "voltage",
    "global intensity",
    "sub-metering 1",
    "sub-metering 2",
    "sub-metering 3",
    "time",
)
_POWER_DROPPED: tuple[int, ...] = (1, 3)  # global reactive power, global intensity
_GAS_DROPPED: tuple[str, ...] = ("Meth", "Eth", "Time")
_BSDS300_KEYS: tuple[str, ...] = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True, repr=False)
class TabularData:
    """The three splits of one tabular data set, ready for a density model.

    Arguments:
        train: float32 tensor of shape (n_train, D), the rows to fit.
        validation: float32 tensor of shape (n_validation, D), for early stopping.
        test: float32 tensor of shape (n_test, D), touched once, for the reported NLL.
        name: one of ``NAMES``.
        features: the names of the D columns, where the source file has them, else empty.
    """

    train: torch.Tensor
    validation: torch.Tensor
    test: torch.Tensor
    name: str
    features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        splits = {"train": self.train, "validation": self.validation, "test": self.test}
        shapes = {key: tuple(split.shape) for key, split in splits.items()}
        if any(len(shape) != 2 for shape in shapes.values()):
            raise ValueError(f"every split must have shape (n, D), got {shapes}")
        if len({shape[1] for shape in shapes.values()}) != 1:
            raise ValueError(f"the splits disagree on the dimension D: {shapes}")
        if self.features and len(self.features) != self.train.shape[1]:
            raise ValueError(f"{len(self.features)} feature names for D = {self.train.shape[1]}")

    @property
    def dim(self) -> int:
        """D, the number of columns of every split."""
        return int(self.train.shape[1])

    def __repr__(self) -> str:
        splits = {"train": self.train, "validation": self.validation, "test": self.test}
        sizes = ", ".join(f"{key}={tuple(split.shape)}" for key, split in splits.items())
        return f"TabularData(name={self.name!r}, dim={self.dim}, {sizes})"


def check_name(name: str) -> None:
    check_choice("tabular dataset", name, NAMES)


def _optional_import(module: str, name: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"reading the {name} files needs the package {module!r}: pip install {module}"
        ) from error


def _find_files(name: str, root: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Full paths of the files of a file-based set; FileNotFoundError if any is missing."""
    base = Path(root).expanduser()
    paths = tuple(base / relative for relative in FILES[name])
    missing = [path for path in paths if not path.is_file()]
    if missing:
        listing = "\n".join(f"  {path.resolve()}" for path in missing)
        raise FileNotFoundError(
            f"the {name} data set needs these files, which are missing:\n{listing}\n{DOWNLOAD}"
        )
    return paths


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


# D of each file-based set after the MAF preprocessing.
DIMS: dict[str, int] = {"power": 6, "gas": 8, "hepmass": 21, "miniboone": 43, "bsds300": 63}


def _checked(
    name: str,
    splits: tuple[np.ndarray, ...],
    paths: tuple[Path, ...],
    features: tuple[str, ...] = (),
) -> TabularData:
    """The `TabularData` of ``splits``, after checking what a damaged file would break: every
    split non-empty and finite, and D as the MAF release gives it (`DIMS`)."""
    where = " and ".join(str(path) for path in paths)
    for split_name, split in zip(("train", "validation", "test"), splits, strict=True):
        if split.ndim != 2 or split.shape[0] == 0 or split.shape[1] == 0:
            raise ValueError(
                f"{where} gave an empty {split_name} split (shape {split.shape}): the file is "
                f"truncated, damaged or not the MAF release. {DOWNLOAD}"
            )
        bad = ~np.isfinite(split)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise ValueError(
                f"{where} gave {int(bad.sum())} NaN or infinite values in the {split_name} split "
                f"(the first at row {row}, column {column}) after the MAF preprocessing: the "
                f"file is truncated or damaged; replace it. {DOWNLOAD}"
            )
    if splits[0].shape[1] != DIMS[name]:
        raise ValueError(
            f"{where} gave D = {splits[0].shape[1]} columns after the MAF preprocessing, but "
            f"{name} has D = {DIMS[name]}: the file is damaged or not the MAF release. {DOWNLOAD}"
        )
    return TabularData(*map(_as_tensor, splits), name=name, features=features)


def _load_array(path: Path) -> np.ndarray:
    """A .npy file as float64, never unpickling (object arrays are refused)."""
    try:
        return np.asarray(np.load(path, allow_pickle=False), dtype=np.float64)
    except (ValueError, OSError, EOFError, TypeError) as error:
        raise ValueError(
            f"{path} is not a numeric .npy array ({type(error).__name__}: {error}); "
            f"the file is truncated or damaged: replace it. {DOWNLOAD}"
        ) from error


def _split_last_tenths(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MAF split: test = last floor(N/10) rows; validation = last tenth of the rest.

    Arguments:
        data: array of shape (N, D), already in the order the split should follow.

    Returns:
        (train, validation, test) with floor(0.1 N) test rows, floor(0.1 (N - n_test))
        validation rows and the remaining rows for training, in that order in ``data``.
    """
    n_test = int(0.1 * data.shape[0])
    rest, test = data[: data.shape[0] - n_test], data[data.shape[0] - n_test :]
    n_validation = int(0.1 * rest.shape[0])
    train, validation = rest[: rest.shape[0] - n_validation], rest[rest.shape[0] - n_validation :]
    if min(len(train), len(validation), len(test)) == 0:
        raise ValueError(f"{data.shape[0]} rows are too few for three non-empty splits")
    return train, validation, test


def _standardise(
    splits: tuple[np.ndarray, ...], reference: np.ndarray, ddof: int
) -> tuple[np.ndarray, ...]:
    """x -> (x - mean) / std per column, with mean and std of ``reference`` (ddof as given)."""
    mean, std = reference.mean(axis=0), reference.std(axis=0, ddof=ddof)
    return tuple((split - mean) / std for split in splits)


# ---------------------------------------------------------------------------------------------
# POWER


def _power_with_noise(raw: np.ndarray) -> np.ndarray:
    """Shuffle, drop two columns and add the MAF dequantisation noise; shape (N, 8) -> (N, 6).

    The random draws come from ``numpy.random.RandomState(42)`` in MAF's order: the row
    shuffle, then U(0, 0.01) for voltage, then U(0, 0.001) for global active power, then
    U(0, 1) for the three sub-meterings; time gets no noise. Each column's noise is at most
    its recording resolution, which spreads repeated values without moving any point far.
    """
    if raw.ndim != 2 or raw.shape[1] != len(_POWER_COLUMNS):
        raise ValueError(
            f"power/data.npy must have shape (N, {len(_POWER_COLUMNS)}) with columns "
            f"{', '.join(_POWER_COLUMNS)}; got {raw.shape}"
        )
    # RandomState (not default_rng) because the benchmark is defined by its exact stream.
    rng = np.random.RandomState(42)
    data = np.array(raw, dtype=np.float64)
    rng.shuffle(data)
    data = np.delete(data, _POWER_DROPPED, axis=1)
    n = data.shape[0]
    voltage = 0.01 * rng.rand(n, 1)
    active_power = 0.001 * rng.rand(n, 1)
    sub_metering = rng.rand(n, 3)
    time = np.zeros((n, 1))
    return data + np.hstack([active_power, voltage, sub_metering, time])


def load_power(root: str | os.PathLike[str]) -> TabularData:
    """POWER: household electric power consumption (UCI), D = 6.

    Reads ``root/power/data.npy`` (N = 2,049,280 rows of 8 columns: global active power,
    global reactive power, voltage, global intensity, sub-meterings 1-3, time). As MAF does:
    the rows are shuffled by ``RandomState(42)``; global intensity (column 3) and global reactive
    power (column 1) are dropped; uniform noise is added per column (U(0, 0.001) to active power,
    U(0, 0.01) to voltage, U(0, 1) to each sub-metering, none to time); then
    test = the last 10 %, validation = the last 10 % of the rest; every split is standardised
    as x' = (x - m) / s with m and s the column mean and (population, ddof = 0) standard
    deviation of train and validation together.

    With the release file the splits have 1,659,917 / 184,435 / 204,928 rows.

    Arguments:
        root: folder that holds ``power/data.npy``.

    Returns:
        TabularData with D = 6 columns, in the order active power, voltage, sub-meterings
        1-3, time.
    """
    (path,) = _find_files("power", root)
    data = _power_with_noise(_load_array(path))
    train, validation, test = _split_last_tenths(data)
    splits = _standardise((train, validation, test), np.vstack([train, validation]), ddof=0)
    kept = tuple(c for i, c in enumerate(_POWER_COLUMNS) if i not in _POWER_DROPPED)
    return _checked("power", splits, (path,), kept)


# ---------------------------------------------------------------------------------------------
# GAS


def _read_dataframe_pickle(path: Path) -> Any:
    """The DataFrame pickled in ``path`` (pandas 0.x under Python 2, as in the 2017 GAS file,
    or today's pandas), read by `ffjord_edu.datasets.safe_pickle`: a pickle can run code, so
    only numpy's and pandas' own rebuild functions are allowed, and never ``pandas.read_pickle``.
    """
    _optional_import("pandas", "gas")
    with path.open("rb") as file:
        try:
            return restricted_load(file, "pandas", str(path))
        except UnsafePickleError:
            raise
        except Exception as error:
            raise ValueError(
                f"could not read {path} as a pandas DataFrame pickle ({_brief(error)}); "
                f"the file is truncated or damaged: replace it with the original. {DOWNLOAD}"
            ) from error


def _brief(error: BaseException) -> str:
    """'Type: message', cut to 200 characters (a decode error can quote a whole buffer)."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 200 else text[:197] + "..."


def _drop_correlated(frame: Any, threshold: float = 0.98) -> Any:
    """MAF's greedy rule: while a column correlates above threshold with another, drop one.

    Each pass computes the Pearson correlation matrix C and, per column j, the count
    n_j = #{k : C_jk > threshold} (n_j >= 1 because C_jj = 1). While some n_j > 1, the first
    such column is dropped and C is recomputed. Dropping one column at a time keeps one member
    of every group of near-duplicates, where dropping all flagged columns at once would lose
    the whole group. Only positive correlation counts, as in the MAF code.
    """
    while True:
        counts = (frame.corr() > threshold).sum(axis=1).to_numpy()
        flagged = np.flatnonzero(counts > 1)
        if flagged.size == 0:
            return frame
        frame = frame.drop(columns=frame.columns[flagged[0]])


def load_gas(root: str | os.PathLike[str]) -> TabularData:
    """GAS: 16 chemical sensors exposed to ethylene and CO (UCI), D = 8.

    Reads ``root/gas/ethylene_CO.pickle``, a pandas DataFrame. As MAF does: the columns
    ``Meth``, ``Eth`` and ``Time`` (concentrations and clock, not sensor readings) are dropped;
    near-duplicate sensors are removed greedily (correlation > 0.98, see ``_drop_correlated``),
    which leaves 8 columns; every column is standardised with the mean and sample
    (ddof = 1) standard deviation of the whole file (test rows included, as in MAF); the rows
    are not shuffled: test = the last 10 %, validation = the last 10 % of the rest.

    With the release file the splits have 852,174 / 94,685 / 105,206 rows. The file was
    written by Python 2 and pandas 0.x; it is read by a restricted latin-1 unpickler that only
    rebuilds numpy and pandas objects (a pickle can run code; ``pandas.read_pickle`` is never
    used), so a crafted file is refused with `UnsafePickleError` and nothing in it runs.

    Arguments:
        root: folder that holds ``gas/ethylene_CO.pickle``.

    Returns:
        TabularData with D = 8 sensor columns (their names in ``features``).
    """
    (path,) = _find_files("gas", root)
    frame = _read_dataframe_pickle(path)
    if not hasattr(frame, "columns"):
        raise ValueError(f"{path} holds a {type(frame).__name__}, not a pandas DataFrame")
    missing = [column for column in _GAS_DROPPED if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} lacks the columns {missing}; expected the MAF GAS DataFrame with columns "
            f"{', '.join(_GAS_DROPPED)} and the sensors, found {list(frame.columns)}"
        )
    frame = _drop_correlated(frame.drop(columns=list(_GAS_DROPPED)))
    frame = (frame - frame.mean()) / frame.std()
    splits = _split_last_tenths(frame.to_numpy(dtype=np.float64))
    features = tuple(str(column) for column in frame.columns)
    return _checked("gas", splits, (path,), features)


# ---------------------------------------------------------------------------------------------
# HEPMASS


def _minimum_repeats(column: np.ndarray) -> int:
    """How many entries equal the column's smallest value."""
    return int(np.count_nonzero(column == column.min()))


def _read_hepmass_csv(pandas: ModuleType, path: Path) -> Any:
    """One HEPMASS CSV: comma-separated numeric columns (a label, then features), no gaps."""
    table = pandas.read_csv(path, index_col=False)
    if table.shape[1] < 2:
        header = ",".join(str(c) for c in table.columns)[:80]
        guess = next((f" (it looks separated by {s!r})" for s in ";\t| " if s in header), "")
        raise ValueError(
            f"{path} has {table.shape[1]} column; the MAF release has comma-separated columns "
            f"(the label, then the features){guess}; header: {header!r}"
        )
    if table.shape[0] == 0:
        raise ValueError(f"{path} has no rows: it is truncated; replace it. {DOWNLOAD}")
    text = [c for c in table.columns if not pandas.api.types.is_numeric_dtype(table[c])]
    if text:
        raise ValueError(f"{path}: the columns {text} hold text, not numbers: replace the file")
    missing = table.isna().to_numpy()
    if missing.any():
        row, column = np.argwhere(missing)[0]
        raise ValueError(
            f"{path} has {int(missing.sum())} missing values (the first on line {row + 2}, "
            f"column {table.columns[column]!r}): the file is truncated or damaged; replace it"
        )
    return table


def load_hepmass(root: str | os.PathLike[str]) -> TabularData:
    """HEPMASS: simulated particle collisions with signal mass 1000 (UCI), D = 21.

    Reads ``root/hepmass/1000_train.csv`` and ``root/hepmass/1000_test.csv`` (a header line,
    then the class label, then the 27 features f0..f26). As MAF does: only the signal rows
    (label 1) are kept and the label column is dropped; the last column of the test file is
    dropped too (MAF's comment: "the data set is messed up"), after which the test columns
    must be the training columns; the columns are standardised with the mean and sample
    (ddof = 1) standard deviation of the training file's signal rows; then every feature whose
    smallest value occurs more than 5 times in the standardised training data is removed
    (discrete features, such as the jet count and the b-tags, which a density cannot model),
    leaving 21; validation = the last 10 % of the training rows.

    The MAF comment speaks of features with "too many re-occurring values"; its code counts
    the repeats of the smallest value only, and that rule is the one used here.
    With the release files the splits have 315,123 / 35,013 / 174,987 rows.

    Arguments:
        root: folder that holds ``hepmass/1000_train.csv`` and ``hepmass/1000_test.csv``.

    Returns:
        TabularData with D = 21 columns (their header names in ``features``).
    """
    train_path, test_path = _find_files("hepmass", root)
    pandas = _optional_import("pandas", "hepmass")
    # index_col=False: never take the label column as the row index.
    train = _read_hepmass_csv(pandas, train_path)
    test = _read_hepmass_csv(pandas, test_path)
    train = train[train.iloc[:, 0] == 1].iloc[:, 1:]
    test = test[test.iloc[:, 0] == 1].iloc[:, 1:-1]
    if set(test.columns) != set(train.columns):
        raise ValueError(
            f"after dropping its last column, {test_path} should have the columns of "
            f"{train_path}: {list(train.columns)}; it has {list(test.columns)}"
        )
    test = test[train.columns]
    mean, std = train.mean(), train.std()
    train = ((train - mean) / std).to_numpy(dtype=np.float64)
    test = ((test - mean) / std).to_numpy(dtype=np.float64)
    keep = [j for j in range(train.shape[1]) if _minimum_repeats(train[:, j]) <= 5]
    train, test = train[:, keep], test[:, keep]
    n_validation = int(0.1 * train.shape[0])
    train, validation = train[: len(train) - n_validation], train[len(train) - n_validation :]
    features = tuple(str(mean.index[j]) for j in keep)
    return _checked("hepmass", (train, validation, test), (train_path, test_path), features)


# ---------------------------------------------------------------------------------------------
# MINIBOONE


def load_miniboone(root: str | os.PathLike[str]) -> TabularData:
    """MINIBOONE: particle identification in a neutrino experiment (UCI), D = 43.

    Reads ``root/miniboone/data.npy``. The release file is already cleaned (the note in the
    MAF loader: outliers with first feature < -100 removed, then, of the 50 features, those
    whose smallest value occurs more than 5 times, leaving 43), so nothing is removed here.
    The MAF loader then does, and so do we: no shuffle; test = the last 10 %, validation = the last
    10 % of the rest; standardisation with the population (ddof = 0) mean and standard
    deviation of train and validation together.

    With the release file the splits have 29,556 / 3,284 / 3,648 rows.

    Arguments:
        root: folder that holds ``miniboone/data.npy``.

    Returns:
        TabularData with D = 43 columns.
    """
    (path,) = _find_files("miniboone", root)
    data = _load_array(path)
    if data.ndim != 2:
        raise ValueError(f"{path} must hold a 2-D array of shape (N, D), got {data.shape}")
    train, validation, test = _split_last_tenths(data)
    splits = _standardise((train, validation, test), np.vstack([train, validation]), ddof=0)
    return _checked("miniboone", splits, (path,))


# ---------------------------------------------------------------------------------------------
# BSDS300


def load_bsds300(root: str | os.PathLike[str]) -> TabularData:
    """BSDS300: 8 x 8 grey-scale patches of natural images, D = 63.

    Reads ``root/BSDS300/BSDS300.hdf5``, whose datasets ``train``, ``validation`` and ``test``
    MAF stored already preprocessed: the pixels of a patch sum to zero (its mean is removed),
    so the bottom-right pixel, minus the sum of the others, is left out and 64 - 1 = 63.
    They are returned as stored, with no shuffling or scaling: 1,000,000 / 50,000 / 250,000
    rows.

    Arguments:
        root: folder that holds ``BSDS300/BSDS300.hdf5``.

    Returns:
        TabularData with D = 63 columns.
    """
    (path,) = _find_files("bsds300", root)
    h5py = _optional_import("h5py", "bsds300")
    with h5py.File(path, "r") as file:
        missing = [key for key in _BSDS300_KEYS if key not in file]
        if missing:
            raise ValueError(
                f"{path} lacks the datasets {missing}; it has {sorted(file.keys())}, "
                f"and the MAF file has {', '.join(_BSDS300_KEYS)}"
            )
        splits = tuple(np.asarray(file[key][()], dtype=np.float64) for key in _BSDS300_KEYS)
    return _checked("bsds300", splits, (path,))


# ---------------------------------------------------------------------------------------------
# The embedded default


def load_breast_cancer(seed: int = 42) -> TabularData:
    """Wisconsin diagnostic breast cancer (scikit-learn's copy, no download), D = 6.

    569 tumours, described by cell-nucleus measurements. Of the ten "mean" features, the
    two rules of the MAF benchmark remove four, leaving six continuous, skewed columns (the
    two tumour classes make it a mixture, too): radius and perimeter are near-copies of area
    (correlation > 0.98, the GAS rule), and concavity and concave points put 13 tumours on
    their smallest value, 0 (more than 5 repeats, the HEPMASS rule), a point mass that no
    density can fit. The first two columns, area and compactness, form the pair whose shape is
    furthest from a Gaussian (curved and skewed): a kernel density beats the best Gaussian on
    held-out rows by about 0.4 nats, the most of any pair, so ``train[:, :2]`` is a good
    two-dimensional flow problem.

    The protocol is MAF's, with a seeded shuffle first so that the splits do not follow the
    order of the source file: rows permuted by ``numpy.random.default_rng(seed)``; test = the
    last 10 %, validation = the last 10 % of the rest; each split standardised with the
    training split's mean and population (ddof = 0) standard deviation. Splits: 462 / 51 / 56
    rows.

    Arguments:
        seed: seed of the shuffle; the default gives the documented splits.

    Returns:
        TabularData with D = 6 columns, named in ``features``.
    """
    bunch = sklearn.datasets.load_breast_cancer()
    names = list(bunch.feature_names)
    data = bunch.data[:, [names.index(feature) for feature in _BREAST_CANCER_FEATURES]]
    data = data[np.random.default_rng(seed).permutation(data.shape[0])]
    train, validation, test = _split_last_tenths(data.astype(np.float64))
    splits = _standardise((train, validation, test), train, ddof=0)
    return TabularData(
        *map(_as_tensor, splits), name="breast_cancer", features=_BREAST_CANCER_FEATURES
    )


_LOADERS: dict[str, Callable[[str | os.PathLike[str]], TabularData]] = {
    "power": load_power,
    "gas": load_gas,
    "hepmass": load_hepmass,
    "miniboone": load_miniboone,
    "bsds300": load_bsds300,
}


def load(name: str = DEFAULT, root: str | os.PathLike[str] | None = None) -> TabularData:
    """Load one tabular data set by name, preprocessed as in the MAF and FFJORD papers.

    Arguments:
        name: one of ``NAMES``; the default, ``"breast_cancer"``, needs no files.
        root: the folder of the MAF release (the ``data/`` folder of ``data.tar.gz``), which
            holds ``FILES[name]``; required for every name except ``"breast_cancer"``.

    Returns:
        TabularData whose splits are float32 tensors of shape (n, D), with D = 6, 8, 21,
        43, 63 and 6 for the names in ``NAMES`` order.

    Example:
        >>> data = load("breast_cancer")
        >>> data
        TabularData(name='breast_cancer', dim=6, train=(462, 6), validation=(51, 6), test=(56, 6))
        >>> round(float(data.train.mean()), 4) == 0.0
        True
    """
    check_name(name)
    if name == "breast_cancer":
        return load_breast_cancer()
    if root is None:
        raise ValueError(
            f"the {name} data set is read from files: pass root, the folder that holds "
            f"{', '.join(FILES[name])}. {DOWNLOAD}"
        )
    return _LOADERS[name](root)
