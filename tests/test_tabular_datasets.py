"""Tests for the tabular benchmarks in ffjord_edu.datasets.tabular.

Each file-based set is checked on small files written here in the release's own format (numpy
.npy, a pickled pandas DataFrame, CSV with the header line, HDF5 with the split datasets), so
the loaders run end to end without the 820 MB download.
"""

import copyreg
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from ffjord_edu.datasets import tabular

FILE_SETS = tuple(tabular.FILES)

# Sizes of the small files below, and what the MAF protocol makes of them.
POWER_ROWS = 1000  # test 100, validation 90, train 810
GAS_ROWS = 1000
MINIBOONE_ROWS = 500  # test 50, validation 45, train 405
HEPMASS_TRAIN_ROWS, HEPMASS_TEST_ROWS = 600, 200  # half of each are signal (label 1)
BSDS300_ROWS = {"train": 200, "validation": 50, "test": 60}

HEPMASS_FEATURES = [f"f{i}" for i in range(27)]
HEPMASS_DISCRETE = ["f7", "f11", "f15", "f19", "f23", "f26"]  # few values: MAF removes them
GAS_SENSORS = [f"sensor {i}" for i in range(16)]  # placeholders: the loader never uses them


# --- writers of the release formats ---------------------------------------------------------


def write_power(root: Path) -> np.ndarray:
    """power/data.npy: 8 columns; the two MAF drops (1 and 3) are NaN, so any leak shows."""
    rng = np.random.default_rng(0)
    raw = rng.gamma(2.0, 1.0, size=(POWER_ROWS, 8))
    raw[:, [1, 3]] = np.nan
    raw[:, 7] = np.arange(POWER_ROWS) % 1440  # time: minute of the day, an integer
    (root / "power").mkdir(parents=True, exist_ok=True)
    np.save(root / "power" / "data.npy", raw)
    return raw


def gas_frame() -> pd.DataFrame:
    """Time, Meth, Eth and 16 sensors that come in 8 near-identical pairs (correlation > 0.99)."""
    rng = np.random.default_rng(1)
    columns: dict[str, np.ndarray] = {
        "Time": np.arange(GAS_ROWS) * 0.01,
        "Meth": rng.choice([0.0, 50.0, 100.0], size=GAS_ROWS),
        "Eth": rng.choice([0.0, 5.0, 10.0], size=GAS_ROWS),
    }
    base = rng.standard_normal((GAS_ROWS, 8))
    for k in range(8):
        for j in (2 * k, 2 * k + 1):
            columns[GAS_SENSORS[j]] = 100 + 3 * base[:, k] + 0.01 * rng.standard_normal(GAS_ROWS)
    frame = pd.DataFrame(columns)
    frame.columns = pd.Index(list(columns), dtype=object)
    return frame


def write_gas(root: Path) -> pd.DataFrame:
    frame = gas_frame()
    (root / "gas").mkdir(parents=True, exist_ok=True)
    frame.to_pickle(root / "gas" / "ethylene_CO.pickle")
    return frame


def hepmass_table(rows: int, seed: int) -> np.ndarray:
    """Label (alternating 1, 0) and the 27 features; see HEPMASS_DISCRETE for the discrete ones."""
    rng = np.random.default_rng(seed)
    table = np.empty((rows, 28))
    table[:, 0] = np.arange(rows) % 2 == 0
    table[:, 1:] = rng.standard_normal((rows, 27))
    for name in HEPMASS_DISCRETE:
        table[:, 1 + HEPMASS_FEATURES.index(name)] = rng.integers(0, 3, size=rows)
    signal = np.flatnonzero(table[:, 0] == 1)
    table[signal[:5], 1 + 3] = -10.0  # f3: smallest value 5 times: kept (the rule is > 5)
    table[signal[:50], 1 + 4] = 0.0  # f4: a value 50 times, but not the smallest: kept
    return table


def write_hepmass(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """1000_train.csv: '# label,f0..f26'; 1000_test.csv: the same and one extra last column."""
    train, test = hepmass_table(HEPMASS_TRAIN_ROWS, 2), hepmass_table(HEPMASS_TEST_ROWS, 3)
    test = np.hstack([test, np.full((len(test), 1), 1000.0)])
    (root / "hepmass").mkdir(parents=True, exist_ok=True)
    header = ",".join(["# label", *HEPMASS_FEATURES])
    for name, table, extra in (("1000_train.csv", train, ""), ("1000_test.csv", test, ",mass")):
        formats = ["%d"] + ["%.10g"] * (table.shape[1] - 1)
        np.savetxt(
            root / "hepmass" / name,
            table,
            fmt=formats,
            delimiter=",",
            header=header + extra,
            comments="",
        )
    return train, test


def write_miniboone(root: Path) -> np.ndarray:
    raw = np.random.default_rng(4).lognormal(size=(MINIBOONE_ROWS, 43))
    (root / "miniboone").mkdir(parents=True, exist_ok=True)
    np.save(root / "miniboone" / "data.npy", raw)
    return raw


def write_bsds300(root: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    splits = {
        key: rng.uniform(-0.5, 0.5, (n, 63)).astype(np.float32) for key, n in BSDS300_ROWS.items()
    }
    (root / "BSDS300").mkdir(parents=True, exist_ok=True)
    with h5py.File(root / "BSDS300" / "BSDS300.hdf5", "w") as file:
        for key, array in splits.items():
            file.create_dataset(key, data=array)
    return splits


WRITERS: dict[str, Callable[[Path], object]] = {
    "power": write_power,
    "gas": write_gas,
    "hepmass": write_hepmass,
    "miniboone": write_miniboone,
    "bsds300": write_bsds300,
}

# name: (D, (n_train, n_validation, n_test)) for the files above (and the embedded set).
EXPECTED: dict[str, tuple[int, tuple[int, int, int]]] = {
    "power": (6, (810, 90, 100)),
    "gas": (8, (810, 90, 100)),
    "hepmass": (21, (270, 30, 100)),
    "miniboone": (43, (405, 45, 50)),
    "bsds300": (63, (200, 50, 60)),
    "breast_cancer": (6, (462, 51, 56)),
}

# name: (which splits the standardisation statistics come from, ddof of their std).
STANDARDISED_ON: dict[str, tuple[tuple[str, ...], int]] = {
    "power": (("train", "validation"), 0),
    "gas": (("train", "validation", "test"), 1),
    "hepmass": (("train", "validation"), 1),
    "miniboone": (("train", "validation"), 0),
    "breast_cancer": (("train",), 0),
}


def load_written(name: str, root: Path) -> tabular.TabularData:
    if name in WRITERS:
        WRITERS[name](root)
    return tabular.load(name, root if name in WRITERS else None)


# --- properties every data set has ----------------------------------------------------------


def test_names_cover_files_and_the_default():
    assert tabular.NAMES == (*tabular.FILES, tabular.DEFAULT)
    assert set(EXPECTED) == set(tabular.NAMES)


@pytest.mark.parametrize("name", tabular.NAMES)
def test_shapes_split_sizes_dtype_and_finiteness(name, tmp_path):
    data = load_written(name, tmp_path)
    dim, sizes = EXPECTED[name]
    assert data.name == name and data.dim == dim
    assert (len(data.train), len(data.validation), len(data.test)) == sizes
    for split in (data.train, data.validation, data.test):
        assert split.dtype == torch.float32 and split.shape[1] == dim
        assert torch.isfinite(split).all()
    assert len(data.features) in (0, dim)


@pytest.mark.parametrize("name", sorted(STANDARDISED_ON))
def test_columns_are_standardised_on_the_documented_rows(name, tmp_path):
    data = load_written(name, tmp_path)
    splits, ddof = STANDARDISED_ON[name]
    reference = torch.cat([getattr(data, split) for split in splits]).double()
    assert reference.mean(dim=0).abs().max() < 1e-5
    assert (reference.std(dim=0, correction=ddof) - 1).abs().max() < 1e-5


@pytest.mark.parametrize("name", tabular.NAMES)
def test_two_loads_are_equal(name, tmp_path):
    first, second = load_written(name, tmp_path), tabular.load(name, tmp_path)
    for split in ("train", "validation", "test"):
        assert torch.equal(getattr(first, split), getattr(second, split))


@pytest.mark.parametrize("name", FILE_SETS)
def test_missing_files_are_named_with_where_to_get_them(name, tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        tabular.load(name, tmp_path)
    message = str(raised.value)
    for relative in tabular.FILES[name]:
        assert str((tmp_path / relative).resolve()) in message
    assert "https://zenodo.org/records/1161203/files/data.tar.gz" in message
    assert "root/power/data.npy" in message


def test_only_the_missing_file_is_listed(tmp_path):
    write_hepmass(tmp_path)
    os.remove(tmp_path / "hepmass" / "1000_test.csv")
    with pytest.raises(FileNotFoundError, match=r"1000_test\.csv") as raised:
        tabular.load_hepmass(tmp_path)
    assert "1000_train.csv\n" not in str(raised.value)


@pytest.mark.parametrize("name", FILE_SETS)
def test_file_sets_need_a_root(name):
    with pytest.raises(ValueError, match=r"pass root.*zenodo"):
        tabular.load(name)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="choose one of: power, gas, hepmass, miniboone, bsds300"):
        tabular.load("mnist")


def test_tabular_data_checks_its_splits_and_prints_shapes():
    x = torch.zeros(4, 3)
    data = tabular.TabularData(x, x[:2], x[:1], name="demo")
    assert (
        repr(data)
        == "TabularData(name='demo', dim=3, train=(4, 3), validation=(2, 3), test=(1, 3))"
    )
    with pytest.raises(ValueError, match="disagree on the dimension"):
        tabular.TabularData(x, torch.zeros(2, 2), x, name="demo")


# --- POWER ----------------------------------------------------------------------------------


def test_power_drops_reactive_power_and_intensity(tmp_path):
    data = load_written("power", tmp_path)  # the dropped columns are NaN in the file
    assert data.features == (
        "global active power",
        "voltage",
        "sub-metering 1",
        "sub-metering 2",
        "sub-metering 3",
        "time",
    )


def test_power_shuffle_and_noise_follow_the_seed_42_stream():
    n = 50
    raw = np.zeros((n, 8))
    raw[:, 7] = np.arange(n)
    rng = np.random.RandomState(42)
    order = rng.permutation(n)  # draws the same numbers as shuffling the rows in place
    voltage, active = 0.01 * rng.rand(n, 1), 0.001 * rng.rand(n, 1)
    sub_metering = rng.rand(n, 3)
    expected = np.hstack([active, voltage, sub_metering, order[:, None].astype(float)])
    np.testing.assert_array_equal(tabular._power_with_noise(raw), expected)


# --- GAS ------------------------------------------------------------------------------------


# Where pandas 0.19 and numpy 1 under Python 2 kept what a DataFrame pickle names.
PYTHON2_PATHS = {
    ("pandas.core.internals.managers", "BlockManager"): (
        "pandas.core.internals",
        "BlockManager",
    ),
    ("pandas.core.indexes.base", "Index"): ("pandas.indexes.base", "Index"),
    ("pandas.core.indexes.base", "_new_Index"): ("pandas.indexes.base", "_new_Index"),
    ("pandas.core.indexes.range", "RangeIndex"): ("pandas.indexes.range", "RangeIndex"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy.core.multiarray", "_reconstruct"),
    ("builtins", "slice"): ("__builtin__", "slice"),
    ("copyreg", "_reconstructor"): ("copy_reg", "_reconstructor"),
}


class Python2Pickler(pickle._Pickler):
    """Writes a DataFrame as Python 2 with pandas 0.19 did: byte strings, old module paths."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_str(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("ascii")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_python2_str
    dispatch[str] = save_python2_str

    def save_global(self, obj, name=None):
        key = (obj.__module__, name or obj.__qualname__)
        module, qualname = PYTHON2_PATHS.get(key, key)
        self.write(pickle.GLOBAL + f"{module}\n{qualname}\n".encode())
        self.memoize(obj)

    def reducer_override(self, obj):
        if isinstance(obj, pd.DataFrame):  # pandas 0.x kept the BlockManager under "_data"
            state = {"_data": obj._mgr, "_typ": "dataframe", "_metadata": []}
            return copyreg.__newobj__, (type(obj),), state
        return NotImplemented


def test_gas_drops_meth_eth_time_and_one_of_each_correlated_pair(tmp_path):
    data = load_written("gas", tmp_path)
    # The greedy rule drops the first flagged column and recomputes, so the second of each
    # pair survives; dropping every flagged column at once would leave nothing.
    assert data.features == tuple(GAS_SENSORS[1::2])


def test_gas_reads_the_python2_pandas_pickle_of_the_release(tmp_path):
    frame = write_gas(tmp_path / "modern")
    (tmp_path / "old" / "gas").mkdir(parents=True)
    with open(tmp_path / "old" / "gas" / "ethylene_CO.pickle", "wb") as file:
        Python2Pickler(file, protocol=2).dump(frame)
    modern, old = tabular.load_gas(tmp_path / "modern"), tabular.load_gas(tmp_path / "old")
    assert old.features == modern.features
    for split in ("train", "validation", "test"):
        assert torch.equal(getattr(old, split), getattr(modern, split))


def test_the_gas_reader_refuses_code(tmp_path):
    (tmp_path / "gas").mkdir()
    (tmp_path / "gas" / "ethylene_CO.pickle").write_bytes(pickle.dumps(os.getcwd, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"asks to load posix\.getcwd.*refused"):
        tabular.load_gas(tmp_path)


def test_gas_without_the_documented_columns_is_explained(tmp_path):
    (tmp_path / "gas").mkdir()
    gas_frame().drop(columns="Meth").to_pickle(tmp_path / "gas" / "ethylene_CO.pickle")
    with pytest.raises(ValueError, match=r"lacks the columns \['Meth'\]"):
        tabular.load_gas(tmp_path)


# --- HEPMASS --------------------------------------------------------------------------------


def test_hepmass_removes_the_features_whose_smallest_value_repeats(tmp_path):
    data = load_written("hepmass", tmp_path)
    assert data.features == tuple(f for f in HEPMASS_FEATURES if f not in HEPMASS_DISCRETE)


def test_hepmass_uses_signal_rows_and_training_statistics(tmp_path):
    train, test = write_hepmass(tmp_path)
    data = tabular.load_hepmass(tmp_path)
    signal_train = train[train[:, 0] == 1, 1:]
    signal_test = test[test[:, 0] == 1, 1:-1]  # the extra last column is gone
    keep = [j for j, f in enumerate(HEPMASS_FEATURES) if f not in HEPMASS_DISCRETE]
    mean, std = signal_train.mean(axis=0), signal_train.std(axis=0, ddof=1)
    expected_test = ((signal_test - mean) / std)[:, keep]
    np.testing.assert_allclose(data.test.numpy(), expected_test, rtol=1e-5, atol=1e-5)
    expected_validation = ((signal_train - mean) / std)[-30:, keep]  # the last tenth
    np.testing.assert_allclose(data.validation.numpy(), expected_validation, rtol=1e-5, atol=1e-5)


def test_hepmass_test_columns_must_match_the_training_columns(tmp_path):
    write_hepmass(tmp_path)
    path = tmp_path / "hepmass" / "1000_test.csv"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("f5,", "g5,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="should have the columns"):
        tabular.load_hepmass(tmp_path)


# --- MINIBOONE and BSDS300 ------------------------------------------------------------------


def test_miniboone_keeps_the_file_order_and_all_columns(tmp_path):
    raw = write_miniboone(tmp_path)
    data = tabular.load_miniboone(tmp_path)
    fitted = raw[:450]
    expected_test = (raw[450:] - fitted.mean(axis=0)) / fitted.std(axis=0)
    np.testing.assert_allclose(data.test.numpy(), expected_test, rtol=1e-5, atol=1e-5)


def test_bsds300_splits_are_returned_as_stored(tmp_path):
    stored = write_bsds300(tmp_path)
    data = tabular.load_bsds300(tmp_path)
    for key, array in stored.items():
        assert torch.equal(getattr(data, key), torch.from_numpy(array))


def test_bsds300_without_a_split_is_explained(tmp_path):
    (tmp_path / "BSDS300").mkdir()
    with h5py.File(tmp_path / "BSDS300" / "BSDS300.hdf5", "w") as file:
        file.create_dataset("train", data=np.zeros((3, 63)))
    with pytest.raises(ValueError, match=r"lacks the datasets \['validation', 'test'\]"):
        tabular.load_bsds300(tmp_path)


# --- the embedded default -------------------------------------------------------------------


def test_default_needs_no_files_and_names_its_features():
    data = tabular.load()
    assert data.name == tabular.DEFAULT == "breast_cancer"
    assert data.features[:2] == ("mean area", "mean compactness")


def test_default_leaves_out_what_the_maf_rules_would_remove():
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    correlation = frame.corr()
    for near_copy in ("mean radius", "mean perimeter"):  # the GAS rule
        assert correlation.loc[near_copy, "mean area"] > 0.98
        assert near_copy not in tabular.load().features
    for point_mass in ("mean concavity", "mean concave points"):  # the HEPMASS rule
        column = frame[point_mass].to_numpy()
        assert np.count_nonzero(column == column.min()) > 5
        assert point_mass not in tabular.load().features


def test_default_seed_changes_the_split_but_not_the_sizes():
    other = tabular.load_breast_cancer(seed=0)
    assert (len(other.train), len(other.validation), len(other.test)) == EXPECTED["breast_cancer"][
        1
    ]
    assert not torch.equal(other.train, tabular.load().train)
