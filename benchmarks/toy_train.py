"""Training speed of ffjord_edu's `CNF` against zuko's `CNF` on the 8gaussians toy density.

Both libraries train in the same process, one after the other in short alternating blocks, so
that a slow or noisy stretch of the (shared) machine hits both alike. Both see the same
training batches (``toy.sample("8gaussians", 512, seed=...)``, the seeds of
`ffjord_edu.train.train_toy`), start from ``torch.manual_seed(seed)`` and are scored on the same
10,000 test samples, always with the exact trace and dopri5 at atol = rtol = 1e-5, in eval mode
and without gradients. Only the optimiser step (zero_grad, loss, backward, Adam) is timed:
drawing batches and evaluating never count as training time.

(a) speed: seconds per iteration at identical settings: 3 hidden layers of 64, batch 512,
    dopri5 at atol = rtol = 1e-5, exact trace, Adam at lr 1e-3, in alternating blocks. The
    network evaluations per iteration are counted with a forward hook on each network: during
    the loss (for ours this is the NFE) and during the backward pass (zuko's adaptive checkpoint
    adjoint re-evaluates the network there; ours backpropagates through the stored graph).
(b) race: training seconds until the test NLL is within 0.1 nats of the true entropy, each
    library with its recommended recipe: zuko's defaults (atol 1e-6, rtol 1e-5) with Adam at one
    or more constant learning rates; ours with fixed-step RK4 (4 steps) and Adam at 5e-3 decayed
    to 0 over 600 iterations by a cosine. The runs take turns, one chunk of iterations each,
    and are evaluated (untimed) after every chunk until they cross the target or hit a cap.
(c) limits: a cProfile breakdown and a torch.profiler operator table of one step of our recipe,
    and the NFE per iteration of ours as training at the settings of (a) goes on.

Run ``python benchmarks/toy_train.py --help`` for the options; ``--quick`` is a smoke test.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import math
import os
import platform
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchdiffeq
import zuko
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

from ffjord_edu.cnf import CNF, AugmentedDynamics
from ffjord_edu.datasets import toy
from ffjord_edu.nets import ODEnet
from ffjord_edu.trace import exact_divergence
from ffjord_edu.train import TrainConfig, evaluate_nll

DATA = "8gaussians"
BATCH = 512
HIDDEN = (64, 64, 64)
EVAL_TOL = 1e-5
TEST_SEED = 2_147_483_647
TARGET_GAP = 0.1
OUR_RECIPE = TrainConfig(lr=5e-3, schedule="cosine", iters=600, batch_size=BATCH)


@dataclass(frozen=True)
class Plan:
    """How long each part runs; `QUICK` is a smoke test of under a minute."""

    speed_iters: int = 200
    speed_block: int = 10
    growth_iters: int = 500
    growth_every: int = 100
    race_chunk: int = 25
    race_cap_ours: float = 200.0
    race_cap_zuko: float = 400.0
    test_size: int = 10_000
    profile_warmup: int = 20
    profile_steps: int = 10


QUICK = Plan(
    speed_iters=10,
    speed_block=5,
    growth_iters=10,
    growth_every=5,
    race_chunk=5,
    race_cap_ours=2.0,
    race_cap_zuko=2.0,
    test_size=500,
    profile_warmup=1,
    profile_steps=1,
)


def training_batch(seed: int, iteration: int) -> Tensor:
    """The batch of ``iteration``, drawn with the seeds that `train_toy` uses."""
    return toy.sample(DATA, BATCH, seed=seed * 1_000_003 + iteration)


class CallCounter:
    """Counts the calls of a module's ``forward`` with a forward hook."""

    def __init__(self, module: nn.Module) -> None:
        self.calls = 0
        module.register_forward_hook(self._count)

    def _count(self, *_: Any) -> None:
        self.calls += 1

    def take(self) -> int:
        """The calls since the last `take`."""
        calls, self.calls = self.calls, 0
        return calls


@dataclass
class Step:
    """One timed optimiser step and the network evaluations it made."""

    seconds: float
    loss: float
    forward_calls: int
    backward_calls: int


class Trainee:
    """A model, its Adam optimiser and learning-rate schedule, and the training time spent.

    Subclasses say how to compute the training loss and the test NLL of their library.
    """

    def __init__(
        self, name: str, model: nn.Module, network: nn.Module, schedule: Callable[[int], float]
    ) -> None:
        self.name, self.model, self.schedule = name, model, schedule
        self.optimizer = torch.optim.Adam(model.parameters(), lr=schedule(0))
        self.counter = CallCounter(network)
        self.iteration = 0
        self.seconds = 0.0

    def loss(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def test_nll(self, test: Tensor) -> float:
        raise NotImplementedError

    def step(self, seed: int) -> Step:
        """Take the optimiser step of the current iteration; only the step itself is timed."""
        x = training_batch(seed, self.iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule(self.iteration)
        self.counter.take()
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x)
        forward_calls = self.counter.take()
        loss.backward()
        self.optimizer.step()
        seconds = time.perf_counter() - started
        self.iteration += 1
        self.seconds += seconds
        return Step(seconds, loss.item(), forward_calls, self.counter.take())

    def evaluate(self, test: Tensor) -> float:
        """Test NLL in nats, in eval mode; never counted as training time."""
        self.model.eval()
        try:
            return self.test_nll(test)
        finally:
            self.model.train()


class Ours(Trainee):
    """An `ffjord_edu.cnf.CNF`, scored with `ffjord_edu.train.evaluate_nll`."""

    def __init__(self, name: str, model: CNF, schedule: Callable[[int], float]) -> None:
        super().__init__(name, model, model.blocks[0].net, schedule)

    def loss(self, x: Tensor) -> Tensor:
        return -self.model.log_prob(x).mean()

    def test_nll(self, test: Tensor) -> float:
        return evaluate_nll(self.model, test, EVAL_TOL, EVAL_TOL)


class Zuko(Trainee):
    """A `zuko.flows.CNF`, scored with its transform's tolerances set to 1e-5 for the while."""

    def __init__(self, name: str, model: zuko.flows.CNF, schedule: Callable[[int], float]) -> None:
        super().__init__(name, model, model.transform.ode, schedule)

    def loss(self, x: Tensor) -> Tensor:
        return -self.model().log_prob(x).mean()

    @torch.no_grad()
    def test_nll(self, test: Tensor, chunk: int = 5000) -> float:
        transform = self.model.transform
        saved = transform.atol, transform.rtol
        transform.atol = transform.rtol = EVAL_TOL
        try:
            return float(torch.cat([-self.model().log_prob(x) for x in test.split(chunk)]).mean())
        finally:
            transform.atol, transform.rtol = saved


def constant(lr: float) -> Callable[[int], float]:
    return lambda iteration: lr


def ours_like_zuko(seed: int) -> Ours:
    """Ours at the settings of (a): dopri5 at 1e-5, exact trace, Adam at 1e-3."""
    torch.manual_seed(seed)
    model = CNF(2, hidden=HIDDEN, trace="exact", method="dopri5", atol=1e-5, rtol=1e-5)
    return Ours("ours", model, constant(1e-3))


def zuko_like_ours(seed: int) -> Zuko:
    """zuko at the settings of (a): tolerances 1e-5, exact trace, Adam at 1e-3."""
    torch.manual_seed(seed)
    model = zuko.flows.CNF(2, hidden_features=HIDDEN, atol=1e-5, rtol=1e-5, exact=True)
    return Zuko("zuko", model, constant(1e-3))


def our_recipe(seed: int) -> Ours:
    """Our recipe: RK4 with 4 fixed steps, Adam at 5e-3 with cosine decay over 600 iterations."""
    torch.manual_seed(seed)
    model = CNF(2, hidden=HIDDEN, trace="exact", method="rk4", step_size=0.25)
    return Ours("ours rk4", model, OUR_RECIPE.learning_rate)


def zuko_recipe(seed: int, lr: float) -> Zuko:
    """zuko's defaults (exact trace, atol 1e-6, rtol 1e-5, ELU) with Adam at a constant ``lr``."""
    torch.manual_seed(seed)
    return Zuko(f"zuko lr={lr:g}", zuko.flows.CNF(2, hidden_features=HIDDEN), constant(lr))


def test_noise(test: Tensor) -> dict[str, float]:
    """How precisely the test set pins down an NLL: the standard error of the true density's
    NLL on it, and its offset from the true entropy (the gap a perfect model would show)."""
    nll = -toy.log_prob(DATA, test.double())
    entropy = toy.entropy(DATA)
    return {
        "true_entropy": entropy,
        "true_nll_on_test": float(nll.mean()),
        "offset": float(nll.mean()) - entropy,
        "standard_error": float(nll.std() / math.sqrt(len(nll))),
    }


def measure_speed(seed: int, plan: Plan) -> dict[str, Any]:
    """(a): both libraries at identical settings, in alternating blocks of ``plan.speed_block``."""
    trainees = [ours_like_zuko(seed), zuko_like_ours(seed)]
    steps: dict[str, list[Step]] = {trainee.name: [] for trainee in trainees}
    while trainees[-1].iteration < plan.speed_iters:
        for trainee in trainees:
            for _ in range(min(plan.speed_block, plan.speed_iters - trainee.iteration)):
                steps[trainee.name].append(trainee.step(seed))
    summary: dict[str, Any] = {name: summarize_steps(runs) for name, runs in steps.items()}
    ratio = summary["zuko"]["median_seconds"] / summary["ours"]["median_seconds"]
    return {"seed": seed, **summary, "ratio_zuko_over_ours": ratio}


def summarize_steps(steps: Sequence[Step]) -> dict[str, Any]:
    return {
        "median_seconds": statistics.median(s.seconds for s in steps),
        "mean_forward_calls": statistics.fmean(s.forward_calls for s in steps),
        "mean_backward_calls": statistics.fmean(s.backward_calls for s in steps),
        "seconds": [round(s.seconds, 4) for s in steps],
        "forward_calls": [s.forward_calls for s in steps],
    }


def measure_nfe_growth(seed: int, plan: Plan) -> list[dict[str, float]]:
    """(c): NFE of ours at the settings of (a) at iterations 0, ``growth_every``, ... with the
    mean NFE and median seconds of the 10 iterations from there."""
    trainee = ours_like_zuko(seed)
    steps = [trainee.step(seed) for _ in range(plan.growth_iters + 10)]
    rows = []
    for i in range(0, plan.growth_iters + 1, plan.growth_every):
        window = steps[i : i + 10]
        rows.append(
            {
                "iteration": i,
                "nfe": window[0].forward_calls,
                "mean_nfe_10": statistics.fmean(s.forward_calls for s in window),
                "median_seconds_10": statistics.median(s.seconds for s in window),
                "loss": window[0].loss,
            }
        )
    return rows


@dataclass
class Race:
    """One training run of (b): evaluated after every chunk until it crosses the target gap."""

    trainee: Trainee
    cap_seconds: float
    max_iters: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    crossed_seconds: float | None = None
    stopped: str | None = None

    def advance(self, seed: int, chunk: int, test: Tensor) -> None:
        """Train ``chunk`` iterations (fewer at ``max_iters``), then evaluate, untimed."""
        if self.max_iters is not None:
            chunk = min(chunk, self.max_iters - self.trainee.iteration)
        losses = [self.trainee.step(seed).loss for _ in range(chunk)]
        if not all(math.isfinite(loss) for loss in losses):
            self.stopped = "non-finite loss"
            return
        gap = self.trainee.evaluate(test) - toy.entropy(DATA)
        iteration, seconds = self.trainee.iteration, self.trainee.seconds
        self.history.append({"iteration": iteration, "seconds": seconds, "gap": gap})
        print(f"  {self.trainee.name:>12}  iter {iteration:5d}  {seconds:7.1f} s  gap {gap:.4f}")
        if gap <= TARGET_GAP:
            self.crossed_seconds, self.stopped = seconds, "crossed"
        elif seconds >= self.cap_seconds:
            self.stopped = "time cap"
        elif iteration == self.max_iters:
            self.stopped = "end of schedule"

    def result(self) -> dict[str, Any]:
        crossed = self.crossed_seconds is not None
        return {
            "name": self.trainee.name,
            "crossed_seconds": self.crossed_seconds,
            "crossed_iteration": self.trainee.iteration if crossed else None,
            "stopped": self.stopped,
            "history": self.history,
        }


def race(seed: int, zuko_lrs: Sequence[float], test: Tensor, plan: Plan) -> list[dict[str, Any]]:
    """(b): ours and zuko (one run per learning rate) take turns, one chunk each."""
    runs = [Race(our_recipe(seed), plan.race_cap_ours, max_iters=OUR_RECIPE.iters)]
    runs += [Race(zuko_recipe(seed, lr), plan.race_cap_zuko) for lr in zuko_lrs]
    while any(run.stopped is None for run in runs):
        for run in runs:
            if run.stopped is None:
                run.advance(seed, plan.race_chunk, test)
    return [run.result() for run in runs]


def summarize_race(per_seed: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median crossing time of each run over the seeds (``None`` when a seed never crossed),
    and the fastest zuko median over ours."""
    names = [run["name"] for run in next(iter(per_seed.values()))]
    medians: dict[str, float | None] = {}
    for index, name in enumerate(names):
        times = [runs[index]["crossed_seconds"] for runs in per_seed.values()]
        medians[name] = None if None in times else statistics.median(times)
    ours, zukos = medians[names[0]], [t for t in list(medians.values())[1:] if t is not None]
    ratio = min(zukos) / ours if zukos and ours else None
    return {"median_crossed_seconds": medians, "ratio_best_zuko_over_ours": ratio}


# The functions whose cumulative time makes up a training step of ours.
PHASES: dict[str, Callable[..., Any]] = {
    "whole step": Trainee.step,
    "forward solve (log_prob)": CNF.forward,
    "  dynamics: f and divergence": AugmentedDynamics.forward,
    "    network forward": ODEnet.forward,
    "    divergence VJPs": exact_divergence,
    "loss.backward": Tensor.backward,
    "Adam step": inspect.unwrap(torch.optim.Adam.step),
}


def phase_seconds(stats: pstats.Stats, steps: int) -> dict[str, float]:
    """Cumulative seconds per step of each of `PHASES`; the solver's own overhead is what the
    forward solve spends outside the dynamics."""
    cumulative = {key: total for key, (*_, total, _callers) in stats.stats.items()}
    seconds = {}
    for phase, function in PHASES.items():
        code = function.__code__
        seconds[phase] = (
            cumulative.get((code.co_filename, code.co_firstlineno, code.co_name), 0.0) / steps
        )
    seconds["  solver overhead"] = (
        seconds["forward solve (log_prob)"] - seconds["  dynamics: f and divergence"]
    )
    return seconds


def top_operators(ops: profile, steps: int, count: int = 10) -> dict[str, Any]:
    """The ATen operators with the most self CPU time per step, and all operators' total."""
    averages = sorted(ops.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    return {
        "all_ops_self_ms_per_step": sum(e.self_cpu_time_total for e in averages) / 1e3 / steps,
        "top": [
            {
                "op": e.key,
                "calls_per_step": e.count / steps,
                "self_ms_per_step": e.self_cpu_time_total / 1e3 / steps,
            }
            for e in averages[:count]
        ],
    }


def profile_recipe(seed: int, plan: Plan) -> dict[str, Any]:
    """(c): where one training step of our recipe spends its time, by function and by operator."""
    trainee = our_recipe(seed)
    for _ in range(plan.profile_warmup):
        trainee.step(seed)
    plain = [trainee.step(seed) for _ in range(plan.profile_steps)]
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [trainee.step(seed) for _ in range(plan.profile_steps)])
    with profile(activities=[ProfilerActivity.CPU]) as ops:
        for _ in range(plan.profile_steps):
            trainee.step(seed)
    return {
        "seconds_per_step": statistics.median(s.seconds for s in plain),
        "nfe_per_step": plain[0].forward_calls,
        "cprofile_seconds_per_step": phase_seconds(pstats.Stats(profiler), plan.profile_steps),
        "operators": top_operators(ops, plan.profile_steps),
    }


def environment() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    return {
        "cpu": models[0] if models else platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchdiffeq": torchdiffeq.__version__,
        "zuko": zuko.__version__,
    }


def print_summary(results: dict[str, Any]) -> None:
    speed = results["speed"]
    print(f"\n(a) identical settings, seed {speed['seed']}: median s/iter, network calls/iter")
    print(f"{'':6} {'s/iter':>8} {'forward':>8} {'backward':>8}")
    for name in ("ours", "zuko"):
        row = speed[name]
        print(
            f"{name:6} {row['median_seconds']:8.3f} {row['mean_forward_calls']:8.1f} "
            f"{row['mean_backward_calls']:8.1f}"
        )
    print(f"zuko / ours: {speed['ratio_zuko_over_ours']:.2f}")
    if "race" in results:
        print_race(results["race"])
    print("\n(c) NFE of ours during training at the settings of (a)")
    for row in results["nfe_growth"]:
        print(
            f"iter {row['iteration']:5d}  nfe {row['nfe']:4d}  mean of 10 {row['mean_nfe_10']:6.1f}"
            f"  {row['median_seconds_10']:.3f} s/iter"
        )
    profiled = results["profile"]
    print(f"\n(c) one step of our recipe: {profiled['seconds_per_step'] * 1e3:.1f} ms unprofiled")
    for phase, seconds in profiled["cprofile_seconds_per_step"].items():
        print(f"{phase:30} {seconds * 1e3:8.1f} ms")


def print_race(race_results: dict[str, Any]) -> None:
    print(f"\n(b) training seconds until the test NLL gap <= {TARGET_GAP} nats")
    for seed, runs in race_results["per_seed"].items():
        cells = [
            f"{run['name']}: "
            + (f"{run['crossed_seconds']:.1f} s" if run["crossed_seconds"] else run["stopped"])
            for run in runs
        ]
        print(f"seed {seed}: " + ", ".join(cells))
    summary = race_results["summary"]
    medians = ", ".join(
        f"{name}: {'-' if t is None else f'{t:.1f} s'}"
        for name, t in summary["median_crossed_seconds"].items()
    )
    print(f"medians: {medians}")
    ratio = summary["ratio_best_zuko_over_ours"]
    print(f"best zuko / ours: {'-' if ratio is None else f'{ratio:.2f}'}")


def save(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="seeds of the race (b); (a) and (c) use the first",
    )
    parser.add_argument(
        "--zuko-lrs",
        type=float,
        nargs="+",
        default=[1e-3, 3e-3],
        help="constant Adam learning rates of zuko's runs in (b)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test of under a minute")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/toy_train.json"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    plan = QUICK if args.quick else Plan()
    test = toy.sample(DATA, plan.test_size, seed=TEST_SEED)
    results: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "environment": environment(),
        "plan": asdict(plan),
        "test_set": test_noise(test),
    }
    print("(a) speed at identical settings", flush=True)
    results["speed"] = measure_speed(args.seeds[0], plan)
    print("(c) NFE growth and profile", flush=True)
    results["nfe_growth"] = measure_nfe_growth(args.seeds[0], plan)
    results["profile"] = profile_recipe(args.seeds[0], plan)
    save(results, args.out)
    per_seed: dict[str, list[dict[str, Any]]] = {}
    for seed in args.seeds:
        print(f"(b) race, seed {seed}", flush=True)
        per_seed[str(seed)] = race(seed, args.zuko_lrs, test, plan)
        results["race"] = {"per_seed": per_seed, "summary": summarize_race(per_seed)}
        save(results, args.out)
    print_summary(results)


if __name__ == "__main__":
    main()
