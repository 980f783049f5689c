"""The regularisation benchmark's bookkeeping: baseline first, the criterion, merging runs made
in parallel processes (benchmarks/regularization.py)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import regularization as benchmark


def run(kinetic: float, jacobian: float, nll: float, nfe: float) -> dict:
    return {
        "lambda_kinetic": kinetic,
        "lambda_jacobian": jacobian,
        "test_nll": nll,
        "nfe_per_solve": nfe,
        "nfe_sample": 32,
        "train_seconds": 100.0,
    }


def test_the_criterion_needs_both_halving_the_nfe_and_at_most_005_nats():
    baseline = run(0, 0, 3.50, 170.0)
    assert benchmark.compare(baseline, run(0.1, 0.1, 3.54, 85.0))["meets_criterion"]
    assert not benchmark.compare(baseline, run(0.1, 0.1, 3.56, 60.0))["meets_criterion"]
    assert not benchmark.compare(baseline, run(0.1, 0.1, 3.50, 86.0))["meets_criterion"]


def test_the_baseline_goes_first_whatever_order_the_runs_finished_in():
    results = benchmark.with_comparisons(
        {"runs": [run(0.1, 0.1, 3.6, 68.0), run(0, 0, 3.5, 173.0), run(0.01, 0.01, 3.52, 90.0)]}
    )
    assert [r["lambda_kinetic"] for r in results["runs"]] == [0, 0.01, 0.1]
    ratios = [c["nfe_ratio_log_prob"] for c in results["comparisons"]]
    assert ratios == pytest.approx([173 / 90, 173 / 68])


def test_no_baseline_means_no_comparisons():
    results = benchmark.with_comparisons({"runs": [run(0.1, 0.1, 3.6, 68.0)]})
    assert results["comparisons"] == []


def write(path: Path, runs: list[dict], iters: int = 5000) -> Path:
    settings = {"data": "checkerboard", "protocol": "recipe", "network": {}}
    path.write_text(
        json.dumps({"command": "x", **settings, "train_config": {"iters": iters}, "runs": runs})
    )
    return path


def test_merge_joins_runs_from_parallel_processes(tmp_path):
    a = write(tmp_path / "a.json", [run(0, 0, 3.5, 173.0)])
    b = write(tmp_path / "b.json", [run(0.1, 0.1, 3.54, 68.0)])
    merged = benchmark.merge([b, a], ["data", "protocol", "network", "train_config"])
    assert [r["lambda_kinetic"] for r in merged["runs"]] == [0, 0.1]
    assert merged["comparisons"][0]["meets_criterion"]
    assert [m["file"] for m in merged["merged_from"]] == [str(b), str(a)]


def test_merge_refuses_runs_made_with_different_settings(tmp_path):
    a = write(tmp_path / "a.json", [run(0, 0, 3.5, 173.0)])
    b = write(tmp_path / "b.json", [run(0.1, 0.1, 3.54, 68.0)], iters=1000)
    with pytest.raises(ValueError, match="different 'train_config'"):
        benchmark.merge([a, b], ["data", "protocol", "network", "train_config"])
