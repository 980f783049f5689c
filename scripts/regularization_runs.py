"""Precompute the runs behind notebook 06's NFE / NLL explorer: penalty weight × training tolerance.

Trains one flow on the 8gaussians toy density for every pair of a penalty weight λ
(``CNF(kinetic=λ, jacobian=λ)``, 0 = unregularised) and a dopri5 training tolerance
(atol = rtol), everything else identical: 3×64 concat-squash tanh network, exact trace, batch
256, Adam from lr 3e-3 with a cosine schedule, seed 0, one torch thread. It records every
training iteration's NFE and the last iteration's NLL and penalty values, then evaluates each final flow on 5,000 fresh
samples (seed 2147483647) with the exact trace and dopri5 at each evaluation tolerance: the test
NLL and the NFE of that solve. The notebook only reads the JSON; it never trains these runs.

    python scripts/regularization_runs.py            # ~30 min on one CPU thread
    python scripts/regularization_runs.py --quick    # smoke test, < 1 min, writes to /tmp

Training is deterministic (seeded batches and probes, one thread), so an interrupted run can be
continued with ``--keep``: runs already in the output file with the same settings are kept.

Output: ``data/regularization/grid.json`` (NFE and step counts are exact for this machine and
these settings; seconds are noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ffjord_edu.cnf import CNF
from ffjord_edu.datasets import toy
from ffjord_edu.resources import data_root
from ffjord_edu.training import TrainConfig, evaluate_nll, train_toy
from ffjord_edu.training.runtime import seed_everything

ROOT = Path(__file__).resolve().parents[1]
DATA = "8gaussians"
TEST_SEED = 2_147_483_647
WEIGHTS = (0.0, 0.01, 0.1, 1.0)
TRAIN_TOLERANCES = (1e-3, 1e-5)
EVAL_TOLERANCES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
NETWORK: dict[str, Any] = {"hidden": (64, 64, 64), "trace": "exact", "method": "dopri5"}
PARTS = ("nll", "kinetic", "jacobian")  # the loss parts of the last training iteration


@torch.no_grad()
def evaluate(model: CNF, test: torch.Tensor) -> list[dict[str, float]]:
    """Test NLL and NFE of one log-likelihood solve at every evaluation tolerance."""
    model.eval()
    rows = []
    for tol in EVAL_TOLERANCES:
        nll = evaluate_nll(model, test, tol, tol, chunk=len(test))
        rows.append({"tol": tol, "test_nll": round(nll, 6), "nfe": model.nfe["forward"]})
    return rows


def run_one(weight: float, tol: float, config: TrainConfig, test: torch.Tensor) -> dict:
    seed_everything(config.seed, threads=1)
    options = {**NETWORK, "atol": tol, "rtol": tol, "kinetic": weight, "jacobian": weight}
    steps: list[dict[str, float]] = []

    def record(iteration: int, values: dict[str, float]) -> None:
        steps.append(values)

    with tempfile.TemporaryDirectory() as out:
        model, metrics = train_toy(DATA, config, out, options, eval_samples=1000, callback=record)
    evaluation = evaluate(model, test)
    final = next(row for row in evaluation if row["tol"] == 1e-5)
    result = {
        "weight": weight,
        "train_tol": tol,
        "nfe": [int(s["nfe_forward"]) for s in steps],
        "last_parts": {k: round(v, 4) for k, v in steps[-1].items() if k in PARTS},
        "test_nll": final["test_nll"],
        "nfe_per_solve": final["nfe"],
        "evaluation": evaluation,
        "train_seconds": round(metrics["history"][-1]["train_seconds"], 1),
    }
    print(
        f"λ={weight:<5g} tol={tol:<6g} test NLL {result['test_nll']:.4f}  NFE/solve "
        f"{result['nfe_per_solve']}  last training NFE {result['nfe'][-1]}  "
        f"{result['train_seconds']:.0f} s",
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="a smoke test of under a minute")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep finished runs of an output file with the same settings",
    )
    args = parser.parse_args(argv)
    iters = 3 if args.quick else args.iters
    out = args.out or (
        Path(tempfile.gettempdir()) / "regularization_grid_quick.json"
        if args.quick
        else data_root() / "regularization" / "grid.json"
    )
    config = TrainConfig(
        iters=iters,
        batch_size=256,
        lr=3e-3,
        schedule="cosine",
        seed=0,
        eval_every=iters,
        checkpoint_every=iters,
    )
    test = toy.sample(DATA, 500 if args.quick else 5000, seed=TEST_SEED)
    results: dict[str, Any] = {
        # the command that makes this file (--keep only skips work, so it is left out)
        "source": " ".join(
            ["python", "scripts/regularization_runs.py"]
            + [a for a in (argv or sys.argv[1:]) if a != "--keep"]
        ),
        "data": DATA,
        "network": NETWORK,
        "train_config": asdict(config),
        "test_size": len(test),
        "true_entropy": toy.entropy(DATA),
        "eval_tolerances": list(EVAL_TOLERANCES),
        "environment": {
            "machine": platform.machine(),
            "python": platform.python_version(),
            "torch": str(torch.__version__),
            "threads": 1,
        },
        "runs": [],
    }
    finished = {}
    if args.keep and out.exists():
        previous = json.loads(out.read_text())
        settings = ("network", "train_config", "test_size", "eval_tolerances")
        if all(previous[k] == json.loads(json.dumps(results[k])) for k in settings):
            finished = {(run["weight"], run["train_tol"]): run for run in previous["runs"]}
    for tol in TRAIN_TOLERANCES:
        for weight in WEIGHTS:
            run = finished.get((weight, tol)) or run_one(weight, tol, config, test)
            results["runs"].append(run)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
