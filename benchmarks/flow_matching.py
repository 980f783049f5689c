"""Maximum likelihood (FFJORD) vs flow matching on the same network and density, side by side.

Three objectives train the same `CNF` (3 hidden layers of 64, concat-squash, tanh) on
8gaussians through the shared loop `ffjord_edu.training.train`, with the batches and seeds of
`ffjord_edu.training.train_toy`:

- ``mle``: the recipe of the shipped model (`ffjord_edu.training.recipes.toy_recipe`: fixed-step RK4
  with 4 steps, exact trace, Adam at 5e-3 with a cosine schedule) shortened to 600 iterations,
  the cosine decaying over those 600 (the shipped model's 1500-iteration run was within 0.003
  nats of its final test NLL at iteration 600; `benchmarks/toy_train.py` races the same recipe);
- ``fm`` / ``ot-fm``: conditional flow matching with independent or mini-batch OT coupling
  (`ffjord_edu.training.recipes.flow_matching_toy_recipe`): Adam at 2e-3 with a cosine schedule, 5000
  iterations. No ODE is solved in training.

The three runs go at the same time, one process each (one torch thread each), so a busy
stretch of the shared machine hits all of them alike. Time is taken from inside the loop's
per-step callback, as wall seconds and as the process's CPU seconds (``time.thread_time`` of the
training thread); evaluations never count as training. The test NLL is measured on
10,000 samples (seed 2147483647) with the exact trace and dopri5 at atol = rtol = 1e-5
(`ffjord_edu.training.evaluate_nll`), at the iterations of `eval_iterations`.

After training, each model is measured as a sampler, from 1,000 fixed base samples:
- reference: dopri5 at atol = rtol = 1e-7;
- error of fixed-step Euler and RK4 with n steps: mean distance to the reference; the NFE
  needed to get within ``ERROR_TARGETS`` of it;
- dopri5's NFE at atol = rtol = 1e-5 (sampling direction, no divergence);
- straightness: the mean excess path length (`ffjord_edu.models.flow_matching.excess_path_length`,
  0 for straight lines) of the dopri5 (1e-5) trajectory at 101 times, and Liu et al.'s
  :math:`\\int_0^1 E\\|v(t, z_t) - (z_1 - z_0)\\|^2 dt` along the model's own paths.

Usage (from the repository root, ~20 minutes on a loaded 2-core machine)::

    TQDM_DISABLE=1 .venv/bin/python benchmarks/flow_matching.py --seeds 0
    TQDM_DISABLE=1 .venv/bin/python benchmarks/flow_matching.py --quick --out /tmp/fm.json

It writes ``benchmarks/results/flow_matching.json`` (rewritten after each part); copy it to
``data/flow_matching/benchmark.json`` for notebook 10.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from machine import cpu_name

from ffjord_edu.cnf import CNF
from ffjord_edu.datasets import toy
from ffjord_edu.models.flow_matching import (
    OBJECTIVES as OBJECTIVE_COUPLINGS,
)
from ffjord_edu.models.flow_matching import (
    excess_path_length,
    straightness_gap,
    trajectory_velocities,
)
from ffjord_edu.training import TrainConfig, evaluate_nll, train
from ffjord_edu.training.recipes import Recipe, flow_matching_toy_recipe, shortened, toy_recipe
from ffjord_edu.training.runtime import seed_everything, step_seed

DATA = "8gaussians"
OBJECTIVES = ("mle", "fm", "ot-fm")
TEST_SEED = 2_147_483_647
EULER_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
RK4_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
ERROR_TARGETS = (0.1, 0.05, 0.02, 0.01, 0.005)
GAP_TARGETS = (0.3, 0.2, 0.1, 0.05, 0.03, 0.02)
MLE_ITERATIONS = 600


def recipe(objective: str, seed: int, quick: bool) -> Recipe:
    """The shipped MLE recipe, or the flow matching recipe with the objective's coupling."""
    if objective == "mle":
        chosen = toy_recipe(DATA, seed)
    else:
        chosen = flow_matching_toy_recipe(DATA, seed, OBJECTIVE_COUPLINGS[objective])
    if quick:
        return shortened(chosen, 30 if objective == "mle" else 200)
    return shortened(chosen, MLE_ITERATIONS) if objective == "mle" else chosen


def eval_iterations(objective: str, iters: int) -> list[int]:
    """Where to measure the test NLL: densely where it changes fast."""
    if objective == "mle":
        points = [50, 100, 150, 200, 300, 400, 500, 600]
    else:
        points = [250, 500, 750, 1000, 1250, 1500, 2000, 3000, 4000, 5000]
    return sorted({p for p in points if p <= iters} | {iters})


def run_objective(objective: str, seed: int, quick: bool) -> dict[str, Any]:
    """One worker process: train one model, then measure it as a sampler."""
    seed_everything(0, threads=1)
    with tempfile.TemporaryDirectory() as folder:
        run = train_timed(objective, seed, quick, Path(folder))
    run["sampler"] = sampler_metrics(run.pop("model"), quick)
    return run


def train_timed(objective: str, seed: int, quick: bool, folder: Path) -> dict[str, Any]:
    """Train one model, timing each step from the loop's callback."""
    chosen = recipe(objective, seed, quick)
    config: TrainConfig = replace(chosen.config, eval_every=10**9, checkpoint_every=10**9)
    torch.manual_seed(config.seed)  # as train_toy does
    model = CNF(2, **chosen.model)
    test = toy.sample(DATA, 10_000, seed=TEST_SEED)
    evaluations = set(eval_iterations(objective, config.iters))
    clock = {"wall": 0.0, "cpu": 0.0, "last": None}
    history: list[dict[str, float]] = []
    loads: list[float] = []

    def next_batch(iteration: int) -> torch.Tensor:
        return toy.sample(DATA, config.batch_size, seed=step_seed(seed, iteration))

    def mark() -> None:
        clock["last"] = (time.perf_counter(), time.thread_time())

    def callback(iteration: int, record: dict[str, float]) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        clock["wall"] += wall - clock["last"][0]
        clock["cpu"] += cpu - clock["last"][1]
        if iteration + 1 in evaluations:
            nll = evaluate_nll(model, test)
            history.append(
                {
                    "iteration": iteration + 1,
                    "train_wall": clock["wall"],
                    "train_cpu": clock["cpu"],
                    "test_nll": nll,
                    "loss": record["loss"],
                }
            )
            loads.append(os.getloadavg()[0])
            print(f"  {objective:6s} it {iteration + 1:5d}  NLL {nll:.4f}", flush=True)
        mark()

    mark()
    # The loop's own end-of-run evaluation is a no-op: the callback measures everything.
    train(model, next_batch, config, folder / objective, lambda m: {}, callback=callback)
    return {
        "model": model,
        "config": asdict(config),
        "model_options": {
            k: list(v) if isinstance(v, tuple) else v for k, v in chosen.model.items()
        },
        "history": history,
        "train_wall": clock["wall"],
        "train_cpu": clock["cpu"],
        "load_average": [min(loads), max(loads)] if loads else None,
    }


def first_time(history: list[dict[str, float]], threshold: float, key: str) -> float | None:
    """Training seconds at the first evaluation with test NLL at most ``threshold``."""
    return next((h[key] for h in history if h["test_nll"] <= threshold), None)


@torch.no_grad()
def sampler_metrics(model: CNF, quick: bool) -> dict[str, Any]:
    """Fixed-step error vs NFE, dopri5 NFE, and straightness of the sampling paths."""
    z0 = torch.randn(500 if quick else 1000, 2, generator=torch.Generator().manual_seed(1))
    with model.using(method="dopri5", atol=1e-7, rtol=1e-7):
        reference = model.inverse(z0)
    with model.using(method="dopri5", atol=1e-5, rtol=1e-5):
        path = model.trajectory(z0, torch.linspace(0, 1, 101).tolist())
        model.inverse(z0)
        dopri_nfe = model.nfe["forward"]
    errors: dict[str, list[list[float]]] = {}
    for method, steps_list, per_step in (("euler", EULER_STEPS, 1), ("rk4", RK4_STEPS, 4)):
        rows = []
        for steps in steps_list:
            with model.using(method=method, step_size=1 / steps, backend="edu"):
                error = (model.inverse(z0) - reference).norm(dim=1).mean()
            rows.append([steps * per_step, float(error)])
        errors[method] = rows
    needed = {
        method: {
            str(target): next((nfe for nfe, e in rows if e <= target), None)
            for target in ERROR_TARGETS
        }
        for method, rows in errors.items()
    }
    times = torch.linspace(0, 1, 101)
    gap = straightness_gap(path, trajectory_velocities(model, path, times), times)
    return {
        "dopri5_nfe_1e-5": dopri_nfe,
        "error_vs_nfe": errors,
        "nfe_for_error": needed,
        "one_step_error": errors["euler"][0][1],
        "excess_path_length": float(excess_path_length(path)),
        "straightness_gap": float(gap),
    }


def summarise(runs: dict[str, dict[str, Any]], entropy: float) -> dict[str, Any]:
    """Per seed: times to targets, ratios, and the sampler metrics."""
    mle_best = min(h["test_nll"] for h in runs["mle"]["history"])
    # MLE "reaches its final NLL" at its first evaluation within 0.01 nats of its best.
    summary: dict[str, Any] = {"mle_best_nll": mle_best}
    for objective, run in runs.items():
        history = run["history"]
        row = {
            "final_test_nll": history[-1]["test_nll"],
            "best_test_nll": min(h["test_nll"] for h in history),
            "train_wall": run["train_wall"],
            "train_cpu": run["train_cpu"],
            "seconds_per_iter_cpu": run["train_cpu"] / run["config"]["iters"],
            "to_mle_nll_plus_0.1": {
                k: first_time(history, mle_best + 0.1, k) for k in ("train_wall", "train_cpu")
            },
            "to_gap": {
                str(g): {
                    k: first_time(history, entropy + g, k) for k in ("train_wall", "train_cpu")
                }
                for g in GAP_TARGETS
            },
            **run["sampler"],
        }
        if objective == "mle":
            row["to_own_best"] = {
                k: first_time(history, mle_best + 0.01, k) for k in ("train_wall", "train_cpu")
            }
            row["to_final"] = {k: run[k] for k in ("train_wall", "train_cpu")}
        summary[objective] = row
    for objective in ("fm", "ot-fm"):
        for name, mle_time in (
            ("speedup_to_mle_nll", "to_own_best"),
            ("speedup_to_mle_final", "to_final"),
        ):
            ratios = {}
            for key in ("train_wall", "train_cpu"):
                fm_time = summary[objective]["to_mle_nll_plus_0.1"][key]
                ratios[key] = summary["mle"][mle_time][key] / fm_time if fm_time else None
            summary[objective][name] = ratios
    return summary


def machine() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": 1,
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "commit": commit,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--quick", action="store_true", help="smoke test, under a minute")
    parser.add_argument(
        "--retable", action="store_true", help="recompute summaries and table of --out, no runs"
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "flow_matching.json"
    )
    args = parser.parse_args()
    seed_everything(0, threads=1)
    entropy = toy.entropy(DATA)
    if args.retable:
        results = json.loads(args.out.read_text())
        for record in results["seeds"].values():
            record["summary"] = summarise(record["runs"], entropy)
        results["table"] = table(results)
        args.out.write_text(json.dumps(results, indent=1))
        print(results["table"])
        return
    results: dict[str, Any] = {
        "protocol": __doc__,
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "true_entropy": entropy,
        "seeds": {},
    }
    for seed in args.seeds:
        print(f"seed {seed}: {', '.join(OBJECTIVES)} in parallel processes", flush=True)
        context = multiprocessing.get_context("spawn")
        with context.Pool(len(OBJECTIVES)) as pool:
            jobs = [(o, seed, args.quick) for o in OBJECTIVES]
            runs = dict(zip(OBJECTIVES, pool.starmap(run_objective, jobs)))
        results["seeds"][str(seed)] = {"runs": runs, "summary": summarise(runs, entropy)}
        results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        print(json.dumps(results["seeds"][str(seed)]["summary"], indent=1), flush=True)
    results["table"] = table(results)
    args.out.write_text(json.dumps(results, indent=1))
    print(results["table"])


def _mean(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else statistics.fmean(values)


def table(results: dict[str, Any]) -> str:
    """The markdown table of the means over seeds (numbers of every seed are in the JSON)."""
    summaries = [s["summary"] for s in results["seeds"].values()]

    def mean(objective: str, *path: str) -> float | None:
        values = []
        for summary in summaries:
            value: Any = summary[objective]
            for key in path:
                value = value[key]
            values.append(value)
        return _mean(values)

    def show(value: float | None, digits: int) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    lines = [
        "| | MLE (FFJORD) | FM | OT-FM |",
        "|---|---:|---:|---:|",
    ]
    rows = [
        ("test NLL at the end (nats)", ("final_test_nll",), 3),
        ("CPU s per iteration", ("seconds_per_iter_cpu",), 4),
        ("training CPU s in all", ("train_cpu",), 0),
        ("CPU s to MLE's best NLL + 0.1", ("to_mle_nll_plus_0.1", "train_cpu"), 1),
        ("wall s to MLE's best NLL + 0.1", ("to_mle_nll_plus_0.1", "train_wall"), 1),
        ("CPU s to entropy + 0.05", ("to_gap", "0.05", "train_cpu"), 1),
        ("CPU s to entropy + 0.03", ("to_gap", "0.03", "train_cpu"), 1),
        ("dopri5 NFE at 1e-5 (sampling)", ("dopri5_nfe_1e-5",), 0),
        ("Euler, 1 step: error", ("one_step_error",), 3),
        ("Euler NFE for error ≤ 0.05", ("nfe_for_error", "euler", "0.05"), 0),
        ("Euler NFE for error ≤ 0.01", ("nfe_for_error", "euler", "0.01"), 0),
        ("RK4 NFE for error ≤ 0.005", ("nfe_for_error", "rk4", "0.005"), 0),
        ("excess path length", ("excess_path_length",), 4),
        ("straightness gap ∫E‖v − (z1 − z0)‖²", ("straightness_gap",), 4),
    ]
    for label, path, digits in rows:
        cells = [show(mean(o, *path), digits) for o in OBJECTIVES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    mle_own = [
        show(_mean([s["mle"]["to_own_best"][k] for s in summaries]), 1)
        for k in ("train_cpu", "train_wall")
    ]
    lines.append(f"| MLE CPU / wall s to its best NLL (± 0.01) | {mle_own[0]} / {mle_own[1]} | | |")
    mle_final = [
        show(_mean([s["mle"]["to_final"][k] for s in summaries]), 1)
        for k in ("train_cpu", "train_wall")
    ]
    lines.append(
        f"| MLE CPU / wall s to its final NLL (end of run) | {mle_final[0]} / {mle_final[1]} | | |"
    )
    for name, against in (
        ("speedup_to_mle_final", "final NLL"),
        ("speedup_to_mle_nll", "best NLL ± 0.01"),
    ):
        for key, label in (("train_cpu", "CPU"), ("train_wall", "wall")):
            cells = [show(_mean([s[o][name][key] for s in summaries]), 1) for o in ("fm", "ot-fm")]
            lines.append(
                f"| speed-up, {label}: MLE to its {against} / FM to it ± 0.1 | 1 | {cells[0]}× | {cells[1]}× |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
