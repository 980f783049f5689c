"""Training: the loss falls, resuming is exact, NaN stops training, checkpoints are safe."""

import json

import pytest
import torch

from ffjord_edu import load
from ffjord_edu.__main__ import main
from ffjord_edu.cnf import CNF
from ffjord_edu.datasets import tabular, toy
from ffjord_edu.training import (
    NonFiniteLossError,
    TrainConfig,
    toy_evaluator,
    train,
    train_tabular,
    train_toy,
)
from ffjord_edu.training.checkpoints import read_checkpoint, write_atomically
from ffjord_edu.training.recipes import tabular_recipe

SMALL = {"hidden": (16, 16), "method": "rk4", "step_size": 0.25}


def small_config(**changes) -> TrainConfig:
    settings = {
        "iters": 20,
        "batch_size": 128,
        "lr": 5e-3,
        "eval_every": 10,
        "checkpoint_every": 5,
        "seed": 4,
    }
    return TrainConfig(**{**settings, **changes})


def test_training_lowers_the_loss(tmp_path):
    losses = []
    config = small_config(iters=60, eval_every=60)
    _, metrics = train_toy(
        "8gaussians",
        config,
        tmp_path,
        SMALL,
        eval_samples=500,
        callback=lambda i, record: losses.append(record["loss"]),
    )
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10 - 0.5
    assert metrics["kl_gap"] == pytest.approx(metrics["test_nll"] - toy.entropy("8gaussians"))
    for key in ("test_nll", "seconds_per_iter", "nfe_forward", "nfe_backward", "iters"):
        assert key in json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["iters"] == 60 and metrics["nfe_forward"] == 16 and metrics["nfe_backward"] == 0


def test_an_interrupted_run_resumes_exactly(tmp_path):
    straight, _ = train_toy(
        "8gaussians", small_config(), tmp_path / "straight", SMALL, eval_samples=200
    )

    def interrupt(iteration, record):
        if iteration == 12:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_toy(
            "8gaussians",
            small_config(),
            tmp_path / "resumed",
            SMALL,
            eval_samples=200,
            callback=interrupt,
        )
    assert read_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["progress"]["iteration"] == 10
    resumed, metrics = train_toy(
        "8gaussians", small_config(), tmp_path / "resumed", SMALL, resume=True, eval_samples=200
    )
    assert metrics["iters"] == 20
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = CNF(2, **SMALL)

    def poison(iteration, record):
        if iteration == 7:
            with torch.no_grad():
                model.blocks[0].net.layers[0].linear.weight.fill_(float("nan"))

    def next_batch(iteration):
        return toy.sample("8gaussians", 64, seed=iteration)

    with pytest.raises(
        NonFiniteLossError, match=r"iteration 8; the last good checkpoint \(iteration 5\)"
    ):
        train(
            model,
            next_batch,
            small_config(),
            tmp_path,
            toy_evaluator("8gaussians", 100),
            callback=poison,
        )
    saved = read_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["progress"]["iteration"] == 5
    assert all(torch.isfinite(p).all() for p in saved["model_state"].values())


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_text("old and complete")

    def crash(path):
        with open(path, "w") as file:
            file.write("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, crash)
    assert target.read_text() == "old and complete"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    model, _ = train_toy("8gaussians", small_config(iters=5), folder, SMALL, eval_samples=100)
    return folder, model


def test_load_returns_the_trained_flow(trained_run):
    folder, model = trained_run
    x = toy.sample("8gaussians", 10, seed=1)
    with torch.no_grad():
        for source in (folder, folder / "checkpoint.pt"):
            assert torch.allclose(load(source).log_prob(x), model.eval().log_prob(x))


def test_truncated_checkpoint_gets_a_clear_error(trained_run, tmp_path):
    data = (trained_run[0] / "checkpoint.pt").read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match="truncated or damaged"):
        load(broken)


@pytest.mark.parametrize("content", [{"weights": torch.zeros(2)}, torch.zeros(3)])
def test_foreign_checkpoint_gets_a_clear_error(tmp_path, content):
    path = tmp_path / "foreign.pt"
    torch.save(content, path)
    with pytest.raises(ValueError, match="not an ffjord-edu checkpoint"):
        load(path)


def test_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    with pytest.raises(RuntimeError, match="truncated or damaged"):
        load(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load(tmp_path)


def test_resume_with_another_model_is_refused(trained_run):
    folder, _ = trained_run
    with pytest.raises(ValueError, match="resume with the same model options"):
        train_toy(
            "8gaussians", small_config(iters=6), folder, {**SMALL, "hidden": (8,)}, resume=True
        )


def test_unknown_dataset_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown toy dataset 'spiral'; choose one of: 8gaussians"):
        train_toy("spiral", small_config(), tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"iters": 0}, "iters must be at least 1"),
        ({"lr": 0.0}, "learning rate must be positive"),
        ({"schedule": "step"}, "unknown schedule 'step'"),
    ],
)
def test_bad_training_settings(changes, message):
    with pytest.raises(ValueError, match=message):
        small_config(**changes)


def test_cosine_schedule_decays_to_zero():
    config = small_config(schedule="cosine", iters=100, lr=1e-2)
    assert config.learning_rate(0) == pytest.approx(1e-2)
    assert config.learning_rate(50) == pytest.approx(5e-3)
    assert config.learning_rate(100) == pytest.approx(0.0, abs=1e-12)
    assert config.learning_rate(150) == pytest.approx(0.0, abs=1e-12)


def test_command_line_trains_and_resumes(tmp_path, capsys):
    arguments = [
        "train",
        "toy",
        "--data",
        "moons",
        "--iters",
        "3",
        "--batch-size",
        "32",
        "--hidden",
        "8,8",
        "--method",
        "rk4",
        "--step-size",
        "0.5",
        "--eval-every",
        "3",
        "--eval-samples",
        "100",
        "--out",
        str(tmp_path),
    ]
    assert main(arguments) == 0
    assert json.loads(capsys.readouterr().out)["iters"] == 3
    assert main([*arguments[:5], "5", *arguments[6:], "--resume"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["iters"] == 5 and "kl_gap" not in metrics
    assert load(tmp_path).config["hidden"] == [8, 8]


@pytest.mark.parametrize("bad", [["--data", "spiral"], ["--hidden", "64,x"], ["--trace", "hutch"]])
def test_command_line_rejects_bad_options(tmp_path, bad, capsys):
    arguments = ["train", "toy", "--data", "moons", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        main([*arguments, *bad])
    assert exit_info.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_tabular_training_stops_early_and_restores_the_best_model(tmp_path):
    data = tabular.load("breast_cancer")
    data = tabular.TabularData(
        data.train[:, :2], data.validation[:, :2], data.test[:, :2], "breast_cancer"
    )
    config = small_config(
        iters=60, eval_every=5, checkpoint_every=5, lr=0.2, patience=2, lr_patience=1, lr_drop=0.5
    )
    records = []
    model, metrics = train_tabular(
        data, config, tmp_path, SMALL, callback=lambda i, r: records.append(r)
    )
    validations = [h["validation_nll"] for h in metrics["history"]]
    assert metrics["stopped_early"] and metrics["iters"] < 60
    assert metrics["best_validation_nll"] == min(validations)
    assert metrics["best_iteration"] == 5 * (validations.index(min(validations)) + 1)
    best = read_checkpoint(tmp_path / "best.pt")["model_state"]
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert metrics["test_nll"] == pytest.approx(
            float(-model.log_prob(data.test).mean()), abs=1e-3
        )


def test_command_line_trains_the_embedded_tabular_set(tmp_path, capsys):
    arguments = [
        "train",
        "tabular",
        "--data",
        "breast_cancer",
        "--iters",
        "4",
        "--hidden",
        "8",
        "--eval-every",
        "2",
        "--batch-size",
        "32",
        "--out",
        str(tmp_path),
    ]
    assert main(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["iters"] == 4 and "test_nll" in summary and "best_validation_nll" in summary
    assert load(tmp_path).config["hidden"] == [8] and load(tmp_path).config["method"] == "rk4"


def test_paper_preset_needs_a_benchmark_name():
    with pytest.raises(ValueError, match="use --preset laptop"):
        tabular_recipe("breast_cancer", 6, "paper")
    recipe = tabular_recipe("power", 6, "paper")
    assert recipe.model["hidden"] == (60, 60, 60) and recipe.model["blocks"] == 5
    assert recipe.config.batch_size == 10_000


def test_benchmark_sets_without_files_name_what_is_missing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "tabular", "--data", "power", "--out", str(tmp_path), "--preset", "nope"])
    capsys.readouterr()
    arguments = ["train", "tabular", "--data", "power", "--root", str(tmp_path)]
    assert main([*arguments, "--out", str(tmp_path / "run")]) == 1  # one line, no traceback
    error = capsys.readouterr().err
    assert "error: the power data set needs these files" in error and "power/data.npy" in error
    assert "Traceback" not in error and error.count("\n") == 1
