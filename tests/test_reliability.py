"""Hostile files, careless options, crashed runs: nothing executes, nothing is silently wrong.

Each test feeds one case of issue 19 and asserts the refusal or the message. The hostile files
carry a payload that would create a file if it ran, and the tests check that file never appears
(and, once, that the same payload does run under plain ``pickle``, so the check can fail).
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ffjord_edu import __main__ as cli
from ffjord_edu.__main__ import _chosen, main, parser, program_name
from ffjord_edu.cnf import CNF
from ffjord_edu.datasets import images, tabular, toy
from ffjord_edu.datasets.safe_pickle import UnsafePickleError
from ffjord_edu.loading import load
from ffjord_edu.solvers import EvaluationCounter, StepBudgetExceeded, StepSizeUnderflow, odeint
from ffjord_edu.training import (
    NonFiniteLossError,
    ResumeMismatch,
    TrainConfig,
    toy_evaluator,
    train,
    train_tabular,
    train_toy,
)
from ffjord_edu.training.checkpoints import (
    FORMAT,
    DamagedCheckpoint,
    RunFolderBusy,
    checksum,
    read_checkpoint,
    write_checkpoint,
)

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


# --- checkpoints: hostile, flipped, crafted, old ---------------------------------------------------

SMALL = {"hidden": (8, 8), "method": "rk4", "step_size": 0.5}


def small_config(**changes) -> TrainConfig:
    settings = {"iters": 10, "batch_size": 32, "lr": 5e-3, "eval_every": 5, "checkpoint_every": 5}
    return TrainConfig(**{**settings, **changes})


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    train_toy("moons", small_config(), folder, SMALL, eval_samples=50)
    return folder


def test_a_code_executing_checkpoint_is_named_and_never_runs(tmp_path):
    target = tmp_path / "ran"
    torch.save({"format": FORMAT, "version": 1, "model_state": _Touch(target)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match=r"asks to run code .* nothing in it ran"):
        read_checkpoint(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="asks to run code"):
        load(tmp_path / "x.pt")
    assert not target.exists()


def test_a_changed_checkpoint_fails_its_checksum_and_an_old_one_without_is_read(
    run_folder, tmp_path
):
    payload = torch.load(run_folder / "checkpoint.pt", weights_only=True)
    assert payload["checksum"] == checksum(payload)
    flipped = {**payload, "model_state": dict(payload["model_state"])}
    weight = next(iter(flipped["model_state"]))
    bits = flipped["model_state"][weight].clone()
    bits.view(torch.int32).view(-1)[0] ^= 1  # one bit of one weight
    flipped["model_state"][weight] = bits
    torch.save(flipped, tmp_path / "flipped.pt")
    with pytest.raises(ValueError, match="fails its checksum"):
        read_checkpoint(tmp_path / "flipped.pt")
    old = {k: v for k, v in payload.items() if k != "checksum"}  # as written before checksums
    torch.save(old, tmp_path / "old.pt")
    read = read_checkpoint(tmp_path / "old.pt")["model_state"][weight]
    assert torch.equal(read, payload["model_state"][weight])


def test_a_flipped_bit_in_any_stored_tensor_is_reported(run_folder, tmp_path):
    data = (run_folder / "checkpoint.pt").read_bytes()
    with zipfile.ZipFile(run_folder / "checkpoint.pt") as archive:
        records = [i for i in archive.infolist() if "/data/" in i.filename and i.file_size]
    assert len(records) > 10  # weights, biases and Adam's moments
    for record in records:
        name_length, extra_length = struct.unpack("<HH", data[record.header_offset + 26 :][:4])
        start = record.header_offset + 30 + name_length + extra_length
        damaged = bytearray(data)
        damaged[start + record.file_size // 2] ^= 0x01  # one bit in the middle of the tensor
        (tmp_path / "damaged.pt").write_bytes(bytes(damaged))
        with pytest.raises((ValueError, DamagedCheckpoint)):
            read_checkpoint(tmp_path / "damaged.pt")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden": [10**9]}, "out of bounds"),
        ({"blocks": 10**6}, "out of bounds"),
        ({"hidden": [2000, 2000]}, r"describes 4,0\d\d,\d\d\d weights .* but the file holds"),
        ({"dim": "two"}, "cannot build"),
    ],
)
def test_a_crafted_config_is_refused_before_anything_is_allocated(
    run_folder, tmp_path, change, message
):
    payload = torch.load(run_folder / "checkpoint.pt", weights_only=True)
    payload["model_config"] = {**payload["model_config"], **change}
    payload["checksum"] = checksum(payload)
    torch.save(payload, tmp_path / "crafted.pt")
    with pytest.raises(ValueError, match=message):
        load(tmp_path / "crafted.pt")


# --- runs: locks, stale files, full disks, resume ---------------------------------------------------


def _python(code: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )


def test_a_run_killed_during_a_save_leaves_no_temporary_after_the_next_start(tmp_path):
    holder = _python(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from ffjord_edu.training.checkpoints import write_atomically\n"
        "def slow(file):\n"
        "    Path(file).write_bytes(b'half of a checkpoint')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        f"write_atomically({str(tmp_path / 'checkpoint.pt')!r}, slow)\n"
    )
    assert holder.stdout.readline().strip() == "writing"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert [p.name for p in tmp_path.glob(".checkpoint.pt.*.tmp")]  # the kill left debris
    train_toy("moons", small_config(iters=5), tmp_path, SMALL, eval_samples=50)
    assert not list(tmp_path.glob(".*.tmp"))


def test_two_runs_into_one_folder_the_second_is_refused_and_a_dead_holder_is_stale(
    tmp_path, capsys
):
    holder = _python(
        "import time\n"
        "from ffjord_edu.training.checkpoints import RunLock\n"
        f"lock = RunLock({str(tmp_path)!r}).acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    assert holder.stdout.readline().strip() == "locked"
    arguments = ["train", "toy", "--data", "moons", "--iters", "2", "--hidden", "8"]
    arguments += ["--method", "rk4", "--step-size", "0.5", "--eval-samples", "50"]
    arguments += ["--out", str(tmp_path)]
    assert main(arguments) == 1
    error = capsys.readouterr().err
    assert f"is in use by a running training run (pid {holder.pid}" in error
    assert not (tmp_path / "checkpoint.pt").exists()
    with pytest.raises(RunFolderBusy):
        train_toy("moons", small_config(), tmp_path, SMALL, eval_samples=50)
    holder.send_signal(signal.SIGKILL)  # dies holding the lock: the lock file stays
    holder.wait()
    assert f"pid {holder.pid}" in (tmp_path / ".lock").read_text()
    assert main(arguments) == 0  # the stale lock of a dead process is taken over


def test_full_disk_and_read_only_folders_are_reported_before_training(tmp_path, monkeypatch):
    steps = []

    def refuse(error_number):
        def write_bytes(self, data):
            raise OSError(error_number, os.strerror(error_number))

        return write_bytes

    for error_number, message in (
        (errno.ENOSPC, "no space left on the device"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "no permission to write"),
    ):
        with monkeypatch.context() as patch:
            patch.setattr(Path, "write_bytes", refuse(error_number))
            with pytest.raises(OSError, match=message):
                train_toy(
                    "moons",
                    small_config(),
                    tmp_path / "run",
                    SMALL,
                    eval_samples=50,
                    callback=lambda i, r: steps.append(i),
                )
    with monkeypatch.context() as patch:
        patch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(1, 1, 1000))
        with pytest.raises(OSError, match=r"only 0\.0 MB free .* need about"):
            train_toy("moons", small_config(), tmp_path / "run", SMALL, eval_samples=50)
    assert steps == [] and not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_full_disk_during_training_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    original = Path.write_bytes

    def fill_disk(iteration, record):
        if iteration == 5:  # after the first checkpoint (iteration 5)
            monkeypatch.setattr(Path, "write_bytes", _raise_enospc)

    with pytest.raises(OSError, match=r"no space left .* previous file there is intact"):
        train_toy("moons", small_config(), tmp_path, SMALL, eval_samples=50, callback=fill_disk)
    monkeypatch.setattr(Path, "write_bytes", original)
    assert read_checkpoint(tmp_path / "checkpoint.pt")["progress"]["iteration"] == 5
    assert not list(tmp_path.glob(".*.tmp"))


def _raise_enospc(self, data):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_resume_refuses_other_data_or_settings_unless_asked(tmp_path):
    train_toy("moons", small_config(), tmp_path, SMALL, eval_samples=50)
    with pytest.raises(ResumeMismatch, match="data 'moons' -> '8gaussians'"):
        train_toy("8gaussians", small_config(iters=15), tmp_path, SMALL, True, 50)
    with pytest.raises(ResumeMismatch, match=r"lr 0\.005 -> 0\.001; seed 0 -> 3"):
        train_toy("moons", small_config(iters=15, lr=1e-3, seed=3), tmp_path, SMALL, True, 50)
    cosine = tmp_path / "cosine"
    train_toy("moons", small_config(schedule="cosine"), cosine, SMALL, eval_samples=50)
    with pytest.raises(ResumeMismatch, match="iters 10 -> 15"):
        train_toy("moons", small_config(iters=15, schedule="cosine"), cosine, SMALL, True, 50)
    _, metrics = train_toy(
        "moons", small_config(iters=15, lr=1e-3), tmp_path, SMALL, True, 50, allow_changes=True
    )
    assert metrics["iters"] == 15
    _, metrics = train_toy(
        "moons", small_config(iters=20, eval_every=10, lr=1e-3), tmp_path, SMALL, True, 50
    )
    assert metrics["iters"] == 20  # more iterations and other evaluation times are the same run


def test_tabular_resume_notices_other_rows(tmp_path):
    data = tabular.load("breast_cancer")
    small = tabular.TabularData(
        data.train[:, :2], data.validation[:, :2], data.test[:, :2], "breast_cancer"
    )
    other = tabular.TabularData(
        data.train[:, 1:3], data.validation[:, 1:3], data.test[:, 1:3], "breast_cancer"
    )
    train_tabular(small, small_config(), tmp_path, SMALL)
    with pytest.raises(ResumeMismatch, match="other rows or preprocessing"):
        train_tabular(other, small_config(), tmp_path, SMALL, resume=True)


# --- numerics: divergence is caught, named and survivable ----------------------------------------


def _poisoned_run(tmp_path, poison):
    torch.manual_seed(0)
    model = CNF(2, **SMALL)

    def next_batch(iteration):
        return toy.sample("moons", 32, seed=iteration)

    with pytest.raises(NonFiniteLossError) as caught:
        train(
            model,
            next_batch,
            small_config(),
            tmp_path,
            toy_evaluator("moons", 50),
            callback=poison(model),
        )
    saved = read_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["progress"]["iteration"] == 5
    assert all(torch.isfinite(p).all() for p in saved["model_state"].values())
    return str(caught.value)


def test_parameters_that_become_infinite_stop_training_at_once(tmp_path):
    def poison(model):
        def callback(iteration, record):
            if iteration == 6:  # the gradient of the next step is infinite; the loss is finite
                weight = model.blocks[0].net.layers[0].linear.weight
                weight.register_hook(lambda grad: torch.full_like(grad, math.inf))

        return callback

    message = _poisoned_run(tmp_path, poison)
    assert "parameters became NaN or infinite at iteration 7" in message
    assert "last good checkpoint (iteration 5)" in message and "Lower the learning rate" in message


def test_a_solver_underflow_becomes_a_non_finite_loss_error(tmp_path):
    def poison(model):
        def callback(iteration, record):
            if iteration == 6:

                def underflow(x):
                    raise StepSizeUnderflow("dopri5's step size underflowed")

                model.training_loss = underflow

        return callback

    message = _poisoned_run(tmp_path, poison)
    assert "step size underflowed at iteration 7" in message


def test_a_finite_runaway_loss_is_named_with_the_fix(tmp_path):
    """lr 10: every number stays finite (the issue's run ended at test NLL 226), but the loss runs
    away from where it started; the warning names the learning rate and a smaller one."""
    torch.manual_seed(0)
    config = small_config(iters=20, batch_size=64, lr=10.0, eval_every=10, checkpoint_every=10)
    options = {"hidden": (32, 32), "method": "rk4", "step_size": 0.25}
    with pytest.warns(RuntimeWarning, match=r"run away: the loss rose .* --lr 1\b"):
        _, metrics = train_toy("8gaussians", config, tmp_path, options, eval_samples=200)
    assert math.isfinite(metrics["train_loss"])  # nothing non-finite: no NonFiniteLossError


def test_an_ordinary_run_gives_no_runaway_warning(tmp_path, recwarn):
    train_toy("8gaussians", small_config(), tmp_path, SMALL, eval_samples=200)
    assert not [w for w in recwarn if "run away" in str(w.message)]


@pytest.mark.parametrize("backend", ["torchdiffeq", "edu"])
def test_a_blow_up_underflows_with_a_named_error(backend):
    # y' = y², y(0) = 1 blows up at t = 1: the step size must shrink to nothing there.
    with pytest.raises(StepSizeUnderflow, match="underflowed"):
        odeint(
            lambda t, y: y**2,
            torch.ones(1, dtype=torch.float64),
            torch.tensor([0.0, 2.0]),
            backend=backend,
            max_steps=100_000,
        )


@pytest.mark.parametrize("backend", ["torchdiffeq", "edu"])
def test_fixed_step_solvers_respect_max_steps_before_the_first_step(backend):
    counter = EvaluationCounter()
    with pytest.raises(StepBudgetExceeded, match=r"takes 10,000,000 steps .* max_steps=10000"):
        odeint(
            lambda t, y: -y,
            torch.ones(1),
            torch.tensor([0.0, 1.0]),
            method="rk4",
            step_size=1e-7,
            backend=backend,
            counter=counter,
        )
    assert counter.calls == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"T": math.inf}, "T must be positive and finite"),
        ({"T": math.nan}, "T must be positive and finite"),
        ({"kinetic": math.nan}, "weights must be >= 0 and finite"),
        ({"jacobian": math.inf}, "weights must be >= 0 and finite"),
        ({"atol": math.inf}, "tolerances must be positive and finite"),
        ({"step_size": math.nan}, "step_size must be positive and finite"),
        ({"blocks": 1.5}, "blocks must be at least 1"),
    ],
)
def test_careless_model_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        CNF(2, **options)


def test_max_steps_is_validated():
    flow = CNF(2, hidden=(4,))
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match="max_steps"), flow.using(max_steps=bad):
            pass


# --- inputs: other dtypes, devices and numpy are converted; non-finite ones are named -------------


def test_log_prob_sample_and_inverse_accept_numpy_float64_float16_and_int():
    torch.manual_seed(0)
    flow = CNF(2, hidden=(8,), method="rk4", step_size=0.25).eval()
    x = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    with torch.no_grad():
        reference = flow.log_prob(x)
        for other in (x.double(), x.half(), x.double().numpy(), x.tolist()):
            result = flow.log_prob(other)
            assert result.dtype == torch.float32
            assert torch.allclose(
                result,
                reference,
                atol=1e-3
                if isinstance(other, torch.Tensor) and other.dtype == torch.float16
                else 1e-6,
            )
        assert flow.log_prob(torch.tensor([[1, 2]])).dtype == torch.float32
        assert flow.inverse(np.zeros((3, 2))).shape == (3, 2)
        assert flow.sample(np.int64(4)).shape == (4, 2)
    with pytest.raises(ValueError, match="must be a whole number >= 1"):
        flow.sample(2.5)
    with pytest.raises(ValueError, match="must hold real numbers"):
        flow.log_prob(torch.ones(2, 2, dtype=torch.bool))


def test_inputs_that_overflow_are_named():
    flow = CNF(2, hidden=(8,), method="rk4", step_size=0.25).eval()
    with pytest.raises(ValueError, match=r"x \(as torch\.float32\) contains NaN or infinite"):
        flow.log_prob(np.array([[1e300, 0.0]]))  # finite in float64, inf in float32
    with (
        torch.no_grad(),
        pytest.warns(RuntimeWarning, match=r"for 1 of 2 rows \(first rows: \[1\]\)"),
    ):
        flow.log_prob(torch.tensor([[0.0, 0.0], [3e38, 3e38]]))


# --- the command line ------------------------------------------------------------------------------


def _options(command: argparse.ArgumentParser):
    """Every (subcommand path, action) of the parser, depth first."""
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for path, inner in _options(sub):
                    yield (name, *path), inner
        else:
            yield (), action


def test_every_option_of_every_subcommand_has_help():
    found = list(_options(parser("ffjord-edu")))
    assert len(found) > 60
    for path, action in found:
        assert action.help and action.help.strip(), f"{' '.join(path)} {action.option_strings}"


def test_help_names_the_program_as_called():
    assert program_name("/usr/local/bin/ffjord-edu") == "ffjord-edu"
    assert program_name("/site-packages/ffjord_edu/__main__.py") == "python -m ffjord_edu"
    result = subprocess.run(
        [sys.executable, "-m", "ffjord_edu", "train", "toy", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert result.stdout.startswith("usage: python -m ffjord_edu train toy")
    assert "(default: 0.001)" in result.stdout and "(default: the preset's)" not in result.stdout
    tabular_help = parser("ffjord-edu")._subparsers._group_actions[0].choices["train"]
    text = tabular_help._subparsers._group_actions[0].choices["tabular"].format_help()
    assert text.startswith("usage: ffjord-edu train tabular") and "(default: the preset's)" in text


# Every option with a preset default, and a value that must be refused, per subcommand.
NUMERIC = ["--iters", "--batch-size", "--lr", "--eval-every", "--atol", "--rtol", "--step-size"]
NUMERIC += ["--blocks"]
REFUSED = {name: ["0", "-1", "nan"] for name in NUMERIC}
REFUSED |= {"--kinetic": ["-1", "nan", "inf"], "--jacobian": ["-0.5", "nan"], "--seed": ["-1"]}
REFUSED |= {"--hidden": ["0", "8,-1"]}
EXTRA = {
    "toy": {"--eval-samples": ["0", "-3"]},
    "tabular": {},
    "images": {"--scales": ["0", "-1"]},
    "vae": {"--latent-dim": ["0", "-2"], "--flow-steps": ["0"], "--ode-hidden": ["0"]},
}
BASE = {
    "toy": ["train", "toy", "--data", "moons"],
    "tabular": ["train", "tabular", "--data", "breast_cancer"],
    "images": ["train", "images"],
    "vae": ["train", "vae", "--posterior", "planar"],
}
CASES = [
    (kind, flag, value)
    for kind in BASE
    for flag, values in {**REFUSED, **EXTRA[kind]}.items()
    for value in values
    if not (kind == "vae" and flag in ("--blocks", "--kinetic", "--jacobian"))
]


@pytest.mark.parametrize(("kind", "flag", "value"), CASES)
def test_zero_negative_and_non_finite_options_are_refused_by_name(
    tmp_path, capsys, kind, flag, value
):
    with pytest.raises(SystemExit) as exit_info:
        main([*BASE[kind], "--out", str(tmp_path), flag, value])
    assert exit_info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing trained


def test_every_numeric_option_is_validated_by_its_type():
    for path, action in _options(parser("ffjord-edu")):
        if action.type in (int, float):
            raise AssertionError(f"{' '.join(path)} {action.option_strings} takes any number")


def test_chosen_keeps_zero_and_drops_only_unset_options():
    args = argparse.Namespace(lr=0.0, iters=0, adjoint=False, step_size=None, resume=True)
    assert _chosen(args, ["lr", "iters", "adjoint", "step_size"]) == {"lr": 0.0, "iters": 0}


def test_user_errors_print_one_line_and_ctrl_c_says_how_to_resume(tmp_path, capsys, monkeypatch):
    assert main(["train", "images", "--data", "mnist", "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("python -m ffjord_edu: error: the mnist data set is read from files")
    assert error.count("\n") == 1 and "Traceback" not in error

    def interrupted(data, config, out, *args, **kwargs):
        write_checkpoint(Path(out) / "checkpoint.pt", {"progress": {"iteration": 3}})
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train_toy", interrupted)
    arguments = ["train", "toy", "--data", "moons", "--out", str(tmp_path / "run")]
    assert main(arguments) == 130
    error = capsys.readouterr().err
    assert "interrupted" in error and "Traceback" not in error
    assert f"train toy --data moons --out {tmp_path / 'run'} --resume" in error
