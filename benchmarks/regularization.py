"""Regularised against unregularised dynamics: function evaluations per solve and test NLL.

RNODE (Finlay et al. 2020) adds to FFJORD's loss the kinetic energy and the Jacobian's Frobenius
norm integrated along each path, weighted by λ_K and λ_J (`CNF(..., kinetic=λ_K, jacobian=λ_J)`).
This benchmark trains one unregularised flow and one regularised flow per weight pair on one toy
density, with everything else identical: the network (3 hidden layers of 64, concat-squash,
tanh), the initialisation (``torch.manual_seed(seed)``), the training batches (those of
`ffjord_edu.training.train_toy`, 512 samples per step), Adam with the same cosine learning-rate
schedule and the same number of iterations. Two protocols (``--protocol``):

- ``adaptive`` (default): the paper's adaptive setting, dopri5 with the exact trace (atol = rtol
  = ``--train-tol``), 1,000 iterations from lr 3e-3, so that the solver's step count is free to
  grow with the stiffness of the learned dynamics;
- ``recipe``: the recipe of the shipped pretrained model, `ffjord_edu.training.recipes.toy_recipe`
  (fixed-step RK4, its iterations and lr: 5,000 and 5e-3 on the checkerboard), as RNODE trained;
  its unregularised run is the shipped model.

Measured for each trained flow, in eval mode and without gradients:

- test NLL: `ffjord_edu.training.evaluate_nll` on 10,000 fresh samples (seed 2147483647, the
  package's test set), exact trace, dopri5 at atol = rtol = 1e-5, and the KL gap to the true
  entropy where it is known;
- NFE per solve: ``model.nfe["forward"]`` after each `CNF.log_prob` solve of that same
  evaluation (two solves of 5,000 samples, averaged), and after one `CNF.sample` solve of 10,000
  base samples, both with dopri5 at atol = rtol = 1e-5;
- the NFE of every training iteration's loss solve, summarised as the mean over 10 iterations at
  a few points of training, and the training seconds (optimiser steps only; the machine may be
  shared, so seconds are noisy while NFE are exact and deterministic);
- the two penalty integrals of the final flow on 1,000 test samples (for every flow, the
  unregularised one too), which say how long and how stiff its paths are.

The criterion checked for each weight pair: the regularised flow needs at least 2× fewer NFE per
log-likelihood solve than the unregularised one, at a test NLL no more than 0.05 nats worse.

Training is deterministic (seeded batches and probes, one thread), so ``--keep`` reuses the runs
already in the output file that have the same settings, and only trains the new weights. To use
more cores, run each weight in its own process with ``--skip-baseline --weights W --out FILE``
(``W = 0`` is the unregularised run) and combine the files with ``--merge FILE ... --out OUT``.

    python benchmarks/regularization.py --help
    python benchmarks/regularization.py --quick      # smoke test, < 1 min, writes to a tmp dir
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from machine import environment

from ffjord_edu.cnf import CNF
from ffjord_edu.datasets import toy
from ffjord_edu.training import TrainConfig, evaluate_nll, train_toy
from ffjord_edu.training.recipes import toy_recipe
from ffjord_edu.training.runtime import seed_everything

ROOT = Path(__file__).resolve().parents[1]
TEST_SEED = 2_147_483_647
EVAL_TOL = 1e-5
CHUNK = 5000
NETWORK: dict[str, Any] = {"hidden": [64, 64, 64], "trace": "exact", "method": "dopri5"}
MIN_NFE_RATIO = 2.0
MAX_NLL_INCREASE = 0.05

Weights = tuple[float, float]


def parse_weights(text: str) -> Weights:
    """``"0.05"`` → (0.05, 0.05); ``"0.1,0.01"`` → λ_K = 0.1, λ_J = 0.01."""
    parts = [float(p) for p in text.split(",")]
    if len(parts) not in (1, 2) or min(parts) < 0:
        raise argparse.ArgumentTypeError(f"expected λ or λ_K,λ_J (non-negative), got '{text}'")
    return (parts[0], parts[-1])


def train_flow(
    data: str,
    weights: Weights,
    config: TrainConfig,
    network: dict[str, Any],
    runs: Path,
    evals: int,
) -> tuple[CNF, dict[str, Any], list[int]]:
    """Train one flow with (λ_K, λ_J) = ``weights``; also return every training step's NFE."""
    seed_everything(config.seed, threads=1)
    options = {**network, "kinetic": weights[0], "jacobian": weights[1]}
    nfe: list[int] = []

    def record(iteration: int, step: dict[str, float]) -> None:
        nfe.append(int(step["nfe_forward"]))

    folder = runs / f"kinetic_{weights[0]:g}_jacobian_{weights[1]:g}"
    model, metrics = train_toy(data, config, folder, options, eval_samples=evals, callback=record)
    return model, metrics, nfe


@torch.no_grad()
def measure(model: CNF, data: str, test: torch.Tensor) -> dict[str, Any]:
    """Test NLL, and the NFE per log-likelihood solve and per sampling solve (dopri5, 1e-5)."""
    model.eval()
    nll = evaluate_nll(model, test, EVAL_TOL, EVAL_TOL, chunk=CHUNK)
    solves = []
    settings = {"trace": "exact", "method": "dopri5", "atol": EVAL_TOL, "rtol": EVAL_TOL}
    with model.using(step_size=None, **settings):
        for x in test.split(CHUNK):
            model.log_prob(x)
            solves.append(model.nfe["forward"])
        model.sample(len(test), generator=torch.Generator().manual_seed(TEST_SEED))
        sample_nfe = model.nfe["forward"]
        torch.manual_seed(TEST_SEED)  # the Hutchinson probe of the Jacobian penalty
        with torch.enable_grad(), model.using(kinetic=1.0, jacobian=1.0):
            model(test[:1000])  # penalties are integrated only with gradients on
            paths = {name: float(v.detach().mean()) for name, v in model.penalties.items()}
    return {
        "test_nll": nll,
        "kl_gap": nll - toy.entropy(data) if data in toy.HAS_LOG_PROB else None,
        "nfe_log_prob_solves": solves,
        "nfe_per_solve": statistics.fmean(solves),
        "nfe_sample": sample_nfe,
        "path_integrals": paths,
    }


def nfe_over_training(nfe: Sequence[int], points: int = 5, window: int = 10) -> list[dict]:
    """The mean NFE of ``window`` iterations from ``points`` evenly spaced places of training."""
    last = max(len(nfe) - window, 0)
    starts = sorted({round(i * last / (points - 1)) for i in range(points)})
    return [{"iteration": s, "mean_nfe": statistics.fmean(nfe[s : s + window])} for s in starts]


def run_one(
    data: str,
    weights: Weights,
    config: TrainConfig,
    network: dict[str, Any],
    runs: Path,
    test: torch.Tensor,
) -> dict[str, Any]:
    """Train and measure one flow."""
    model, metrics, nfe = train_flow(data, weights, config, network, runs, len(test))
    result = {
        "lambda_kinetic": weights[0],
        "lambda_jacobian": weights[1],
        **measure(model, data, test),
        "train_seconds": metrics["history"][-1]["train_seconds"],
        "seconds_per_iter": metrics["seconds_per_iter"],
        "mean_training_nfe": metrics["nfe_forward"],
        "training_nfe_at": nfe_over_training(nfe),
        "history": metrics["history"],
        "training_nfe": nfe,
    }
    print(
        f"λ_K={weights[0]:g} λ_J={weights[1]:g}: NLL {result['test_nll']:.4f}  "
        f"NFE/solve {result['nfe_per_solve']:.1f}  sample NFE {result['nfe_sample']}  "
        f"training {result['train_seconds']:.0f} s",
        flush=True,
    )
    return result


def compare(baseline: dict[str, Any], regularised: dict[str, Any]) -> dict[str, Any]:
    """The NFE ratios and NLL difference of one regularised flow against the baseline."""
    ratio = baseline["nfe_per_solve"] / regularised["nfe_per_solve"]
    increase = regularised["test_nll"] - baseline["test_nll"]
    return {
        "lambda_kinetic": regularised["lambda_kinetic"],
        "lambda_jacobian": regularised["lambda_jacobian"],
        "nfe_ratio_log_prob": ratio,
        "nfe_ratio_sample": baseline["nfe_sample"] / regularised["nfe_sample"],
        "nll_increase": increase,
        "train_time_ratio": baseline["train_seconds"] / regularised["train_seconds"],
        "meets_criterion": ratio >= MIN_NFE_RATIO and increase <= MAX_NLL_INCREASE,
    }


def print_table(results: dict[str, Any]) -> None:
    print(f"\n{'λ_K':>6} {'λ_J':>6} {'NLL':>8} {'NFE/solve':>9} {'sample':>7} {'train s':>8}")
    for run in results["runs"]:
        print(
            f"{run['lambda_kinetic']:6g} {run['lambda_jacobian']:6g} {run['test_nll']:8.4f} "
            f"{run['nfe_per_solve']:9.1f} {run['nfe_sample']:7d} {run['train_seconds']:8.0f}"
        )
    for row in results["comparisons"]:
        print(
            f"λ_K={row['lambda_kinetic']:g} λ_J={row['lambda_jacobian']:g}: "
            f"{row['nfe_ratio_log_prob']:.2f}× fewer NFE per solve, "
            f"NLL {row['nll_increase']:+.4f} nats; criterion met: {row['meets_criterion']}"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", choices=toy.NAMES, default="checkerboard")
    parser.add_argument(
        "--weights",
        type=parse_weights,
        nargs="+",
        default=[(0.01, 0.01), (0.1, 0.0), (0.1, 0.1), (1.0, 1.0)],  # docs/benchmarks.md
        help="penalty weights to try: λ (λ_K = λ_J = λ) or λ_K,λ_J; the unregularised "
        "baseline always runs first",
    )
    parser.add_argument(
        "--protocol",
        choices=("adaptive", "recipe"),
        default="adaptive",
        help="adaptive: dopri5 at --train-tol in training, 1,000 iterations at lr 3e-3; recipe: "
        "the pretrained model's recipe (ffjord_edu.training.recipes.toy_recipe: fixed-step RK4, its "
        "iterations and lr), as in RNODE's experiments",
    )
    parser.add_argument("--iters", type=int, default=None, help="training iterations of each")
    parser.add_argument("--lr", type=float, default=None, help="Adam's initial lr (cosine decay)")
    parser.add_argument("--train-tol", type=float, default=1e-5, help="dopri5 atol = rtol")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke test of under a minute")
    parser.add_argument("--keep", action="store_true", help="reuse runs in --out, same settings")
    parser.add_argument(
        "--skip-baseline",
        action="store_true",
        help="train only --weights (to run weights in parallel processes; then --merge)",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="combine these results files (same settings) into --out instead of training",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results file (default benchmarks/results/regularization.json; with --quick, "
        "regularization_quick.json in the temporary folder)",
    )
    parser.add_argument("--runs", type=Path, default=None, help="run folders (default: a tmp)")
    return parser.parse_args(argv)


def protocol(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any]]:
    """The training configuration and the network options (with its solver) of every run."""
    if args.protocol == "recipe":
        recipe = toy_recipe(args.data, seed=args.seed)
        # tuples become lists, as the results file stores them (compared by --keep and --merge)
        config, network = recipe.config, json.loads(json.dumps(recipe.model))
    else:
        config = TrainConfig(iters=1000, batch_size=512, lr=3e-3, schedule="cosine")
        network = {**NETWORK, "atol": args.train_tol, "rtol": args.train_tol}
    iters = 10 if args.quick else args.iters or config.iters
    return replace(
        config,
        iters=iters,
        lr=args.lr or config.lr,
        seed=args.seed,
        eval_every=max(iters // 4, 1),
        checkpoint_every=iters,
        eval_atol=EVAL_TOL,
        eval_rtol=EVAL_TOL,
    ), network


def with_comparisons(results: dict[str, Any]) -> dict[str, Any]:
    """Order the runs baseline first and compare every regularised run with the baseline."""
    runs = sorted(results["runs"], key=lambda r: (r["lambda_kinetic"], r["lambda_jacobian"]))
    baseline = (
        runs[0] if (runs[0]["lambda_kinetic"], runs[0]["lambda_jacobian"]) == (0, 0) else None
    )
    comparisons = [compare(baseline, r) for r in runs[1:]] if baseline else []
    return {**results, "runs": runs, "comparisons": comparisons}


def merge(files: Sequence[Path], settings_keys: Sequence[str]) -> dict[str, Any]:
    """One results file from several of the same settings (weights run in parallel)."""
    parts = [json.loads(f.read_text()) for f in files]
    for f, part in zip(files[1:], parts[1:]):
        for key in settings_keys:
            if part.get(key) != parts[0].get(key):
                raise ValueError(f"{f} has a different '{key}' from {files[0]}; cannot merge")
    runs = {(r["lambda_kinetic"], r["lambda_jacobian"]): r for p in parts for r in p["runs"]}
    merged = {
        **parts[0],
        "command": " ".join(["python", *sys.argv]),
        "merged_from": [{"file": str(f), "command": p["command"]} for f, p in zip(files, parts)],
        "runs": list(runs.values()),
    }
    return with_comparisons(merged)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)  # every run trains on one thread; record that in the environment
    config, network = protocol(args)
    test_size = 1000 if args.quick else 10_000
    out = args.out or (
        Path(tempfile.gettempdir()) / "regularization_quick.json"
        if args.quick
        else ROOT / "benchmarks" / "results" / "regularization.json"
    )
    settings = {
        "data": args.data,
        "protocol": args.protocol,
        "network": network,
        "train_config": asdict(config),
        "test_size": test_size,
    }
    if args.merge:
        results = merge(args.merge, list(settings))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
        print_table(results)
        return
    kept: dict[Weights, dict[str, Any]] = {}
    if args.keep and out.exists():
        previous = json.loads(out.read_text())
        if {key: previous.get(key) for key in settings} == settings:
            kept = {(r["lambda_kinetic"], r["lambda_jacobian"]): r for r in previous["runs"]}
    results: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        **settings,
        "true_entropy": toy.entropy(args.data) if args.data in toy.HAS_LOG_PROB else None,
        "environment": environment(),
        "runs": [],
        "comparisons": [],
    }
    test = toy.sample(args.data, test_size, seed=TEST_SEED)
    baseline = [] if args.skip_baseline else [(0.0, 0.0)]
    weights = list(dict.fromkeys([*baseline, *kept, *args.weights]))
    with tempfile.TemporaryDirectory() as scratch:
        runs = args.runs or Path(scratch)
        for pair in weights:
            run = kept.get(pair) or run_one(args.data, pair, config, network, runs, test)
            results["runs"].append(run)
            results = with_comparisons(results)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1) + "\n")
    print_table(results)


if __name__ == "__main__":
    main()
