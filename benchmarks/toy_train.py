"""Training speed of ffjord_edu's `CNF` against zuko's `CNF` on the 8gaussians toy density.

Both libraries train in the same process, one after the other in short alternating blocks, so
that a slow or noisy stretch of the (shared) machine hits both alike. Both see the same
training batches (``toy.sample("8gaussians", 512, seed=...)``, the seeds of
`ffjord_edu.training.train_toy`), start from ``torch.manual_seed(seed)`` and are scored on the same
10,000 test samples, always with the exact trace and dopri5 at atol = rtol = 1e-5, in eval mode
and without gradients. Only the optimiser step (zero_grad, loss, backward, Adam) is timed:
drawing batches and evaluating never count as training time. Every time is taken twice, as
wall-clock seconds and as CPU seconds of this process; with one torch thread the two agree on
an idle machine, and CPU time stays meaningful when other processes share the cores.

(a) speed: seconds per iteration at identical settings: 3 hidden layers of 64, batch 512,
    dopri5 at atol = rtol = 1e-5, exact trace, Adam at lr 1e-3, in alternating blocks. The
    network evaluations per iteration are counted with a forward hook on each network: during
    the loss (for ours this is the NFE, ``model.nfe["forward"]``) and during the backward pass
    (zuko's adaptive checkpoint adjoint re-evaluates the network there; ours backpropagates
    through the stored graph).
(b) race: training seconds until the test NLL is within 0.1 nats of the true entropy, each
    library with its recommended recipe: zuko's defaults (atol 1e-6, rtol 1e-5) with Adam at a
    constant 1e-3 or 3e-3; ours with fixed-step RK4 (4 steps) and Adam at 5e-3 decayed to 0 over
    600 iterations by a cosine. Then, as a fairness check, both tuned a little (see
    `DEFAULT_RECIPES`). The runs take turns, one chunk of iterations each, and are evaluated
    (untimed) after every chunk until they cross the target, reach a cap of CPU time or the end
    of a cosine schedule. A run's time is the training time at its first evaluation past the
    target.
(c) limits: a cProfile breakdown (in CPU time) and a torch.profiler operator table (in wall
    time) of one step of our recipe, and the NFE per iteration of ours as training at the
    settings of (a) goes on.

Run ``python benchmarks/toy_train.py --help`` for the options; ``--quick`` is a smoke test.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import json
import math
import os
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
from machine import environment
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

from ffjord_edu.cnf import CNF, AugmentedDynamics
from ffjord_edu.datasets import toy
from ffjord_edu.nets import ODEnet
from ffjord_edu.trace import exact_divergence
from ffjord_edu.training import TrainConfig, evaluate_nll
from ffjord_edu.training.runtime import step_seed

DATA = "8gaussians"
BATCH = 512
HIDDEN = (64, 64, 64)
EVAL_TOL = 1e-5
TEST_SEED = 2_147_483_647
TARGET_GAP = 0.1


@dataclass(frozen=True)
class Plan:
    """How long each part runs; `QUICK` is a smoke test of under a minute."""

    speed_iters: int = 200
    speed_block: int = 10
    growth_iters: int = 500
    growth_every: int = 100
    race_chunk: int = 25
    race_cpu_cap_ours: float = 200.0
    race_cpu_cap_zuko: float = 400.0
    test_size: int = 10_000
    profile_warmup: int = 20
    profile_steps: int = 10


QUICK = Plan(
    speed_iters=10,
    speed_block=5,
    growth_iters=10,
    growth_every=5,
    race_chunk=5,
    race_cpu_cap_ours=2.0,
    race_cpu_cap_zuko=2.0,
    test_size=500,
    profile_warmup=1,
    profile_steps=1,
)


def training_batch(seed: int, iteration: int) -> Tensor:
    """The batch of ``iteration``, drawn with the seeds that `train_toy` uses."""
    return toy.sample(DATA, BATCH, seed=step_seed(seed, iteration))


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
    """One timed optimiser step (wall-clock and CPU seconds) and the network evaluations it made."""

    seconds: float
    cpu_seconds: float
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
        self.seconds = self.cpu_seconds = 0.0

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
        started, cpu_started = time.perf_counter(), time.process_time()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x)
        forward_calls = self.counter.take()
        loss.backward()
        self.optimizer.step()
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        self.iteration += 1
        self.seconds += seconds
        self.cpu_seconds += cpu_seconds
        return Step(seconds, cpu_seconds, loss.item(), forward_calls, self.counter.take())

    def evaluate(self, test: Tensor) -> float:
        """Test NLL in nats, in eval mode; never counted as training time."""
        self.model.eval()
        try:
            return self.test_nll(test)
        finally:
            self.model.train()


class Ours(Trainee):
    """An `ffjord_edu.cnf.CNF`, scored with `ffjord_edu.training.evaluate_nll`."""

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
    """A learning-rate schedule that stays at ``lr``."""
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


@dataclass(frozen=True)
class Recipe:
    """A training run of the race (b), written ``library[:key=value,...]`` on the command line.

    ``ours`` is RK4 with 4 fixed steps (exact trace) and, by default, Adam at 5e-3 with cosine
    decay over 600 iterations; ``zuko`` is zuko's defaults (exact trace, atol 1e-6, rtol 1e-5,
    ELU) with, by default, Adam at a constant 1e-3. The keys are ``lr``, ``schedule``
    (``constant`` or ``cosine``, which decays to 0 at iteration 600 and ends the run there) and,
    for zuko only, ``tol`` (atol = rtol while training; evaluation always uses 1e-5).

    Example:
        >>> Recipe.parse("zuko:lr=5e-3,schedule=cosine,tol=1e-3").name
        'zuko lr=0.005 cosine tol=0.001'
    """

    library: str
    lr: float
    schedule: str
    tol: float | None = None

    @classmethod
    def parse(cls, text: str) -> Recipe:
        library, _, options = text.partition(":")
        if library not in RECIPE_DEFAULTS:
            raise argparse.ArgumentTypeError(f"unknown library {library!r}: use ours or zuko")
        fields: dict[str, Any] = dict(RECIPE_DEFAULTS[library])
        for option in filter(None, options.split(",")):
            key, _, value = option.partition("=")
            if key not in ("lr", "schedule", "tol") or (key == "tol" and library == "ours"):
                raise argparse.ArgumentTypeError(f"unknown option {key!r} for {library}")
            fields[key] = value if key == "schedule" else float(value)
        return cls(library, **fields)

    @property
    def name(self) -> str:
        tol = "" if self.tol is None else f" tol={self.tol:g}"
        return f"{self.library} lr={self.lr:g} {self.schedule}{tol}"

    @property
    def config(self) -> TrainConfig:
        return TrainConfig(lr=self.lr, schedule=self.schedule, iters=600, batch_size=BATCH)

    def build(self, seed: int) -> Trainee:
        """The untrained model, initialised from ``torch.manual_seed(seed)``, and its optimiser."""
        torch.manual_seed(seed)
        schedule = self.config.learning_rate
        if self.library == "ours":
            model = CNF(2, hidden=HIDDEN, trace="exact", method="rk4", step_size=0.25)
            return Ours(self.name, model, schedule)
        tolerances = {} if self.tol is None else {"atol": self.tol, "rtol": self.tol}
        return Zuko(self.name, zuko.flows.CNF(2, hidden_features=HIDDEN, **tolerances), schedule)


RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "ours": {"lr": 5e-3, "schedule": "cosine"},
    "zuko": {"lr": 1e-3, "schedule": "constant"},
}
# The comparison (our recipe, zuko's defaults at two learning rates), then a fairness
# check: both libraries tuned a little (a higher learning rate for ours; our schedule and a
# loose training tolerance for zuko).
DEFAULT_RECIPES = (
    "ours",
    "zuko:lr=1e-3",
    "zuko:lr=3e-3",
    "ours:lr=2e-2",
    "zuko:lr=5e-3,schedule=cosine",
    "zuko:lr=5e-3,schedule=cosine,tol=1e-3",
)


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
    ratios = {
        f"ratio_zuko_over_ours{suffix}": summary["zuko"][key] / summary["ours"][key]
        for suffix, key in (("", "median_seconds"), ("_cpu", "median_cpu_seconds"))
    }
    return {"seed": seed, **summary, **ratios}


def summarize_steps(steps: Sequence[Step]) -> dict[str, Any]:
    return {
        "median_seconds": statistics.median(s.seconds for s in steps),
        "median_cpu_seconds": statistics.median(s.cpu_seconds for s in steps),
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
    cap_cpu_seconds: float
    max_iters: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    crossed: dict[str, float] | None = None
    stopped: str | None = None

    @classmethod
    def start(cls, recipe: Recipe, seed: int, plan: Plan) -> Race:
        """A fresh run; a cosine schedule ends at its last iteration, and the caps of CPU time
        differ between the libraries."""
        cap = plan.race_cpu_cap_ours if recipe.library == "ours" else plan.race_cpu_cap_zuko
        max_iters = recipe.config.iters if recipe.schedule == "cosine" else None
        return cls(recipe.build(seed), cap, max_iters)

    def advance(self, seed: int, chunk: int, test: Tensor) -> None:
        """Train ``chunk`` iterations (fewer at ``max_iters``), then evaluate, untimed."""
        trainee = self.trainee
        if self.max_iters is not None:
            chunk = min(chunk, self.max_iters - trainee.iteration)
        losses = [trainee.step(seed).loss for _ in range(chunk)]
        if not all(math.isfinite(loss) for loss in losses):
            self.stopped = "non-finite loss"
            return
        gap = trainee.evaluate(test) - toy.entropy(DATA)
        point = {
            "iteration": trainee.iteration,
            "seconds": trainee.seconds,
            "cpu_seconds": trainee.cpu_seconds,
        }
        self.history.append({**point, "gap": gap})
        print(
            f"  {trainee.name:>38}  iter {trainee.iteration:5d}  {trainee.seconds:7.1f} s  "
            f"gap {gap:.4f}",
            flush=True,
        )
        if gap <= TARGET_GAP:
            self.crossed, self.stopped = point, "crossed"
        elif trainee.cpu_seconds >= self.cap_cpu_seconds:
            self.stopped = "time cap"
        elif trainee.iteration == self.max_iters:
            self.stopped = "end of schedule"

    def result(self) -> dict[str, Any]:
        return {
            "name": self.trainee.name,
            "crossed": self.crossed,
            "stopped": self.stopped,
            "history": self.history,
        }


def race(seed: int, recipes: Sequence[Recipe], test: Tensor, plan: Plan) -> list[dict[str, Any]]:
    """(b): the runs take turns, one chunk each, until every one has crossed or stopped."""
    runs = [Race.start(recipe, seed, plan) for recipe in recipes]
    while any(run.stopped is None for run in runs):
        for run in runs:
            if run.stopped is None:
                run.advance(seed, plan.race_chunk, test)
    return [run.result() for run in runs]


def summarize_race(per_seed: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each run's median crossing time over the seeds, wall-clock and CPU (``None`` unless every
    seed crossed), and its ratio to the first run's."""
    rows = [{"name": run["name"]} for run in next(iter(per_seed.values()))]
    for clock in ("seconds", "cpu_seconds"):
        medians = []
        for index in range(len(rows)):
            crossings = [runs[index]["crossed"] for runs in per_seed.values()]
            times = [None if c is None else c[clock] for c in crossings]
            medians.append(None if None in times else statistics.median(times))
        for row, median in zip(rows, medians):
            row[f"median_{clock}"] = median
            row[f"{clock}_ratio_to_first"] = median / medians[0] if median and medians[0] else None
    return rows


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
    """Cumulative (CPU) seconds per step of each of `PHASES`; the solver's own overhead is what
    the forward solve spends outside the dynamics."""
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
    trainee = Recipe.parse("ours").build(seed)
    for _ in range(plan.profile_warmup):
        trainee.step(seed)
    plain = [trainee.step(seed) for _ in range(plan.profile_steps)]
    profiler = cProfile.Profile(time.process_time)
    profiler.runcall(lambda: [trainee.step(seed) for _ in range(plan.profile_steps)])
    with profile(activities=[ProfilerActivity.CPU]) as ops:
        for _ in range(plan.profile_steps):
            trainee.step(seed)
    return {
        "seconds_per_step": statistics.median(s.seconds for s in plain),
        "cpu_seconds_per_step": statistics.median(s.cpu_seconds for s in plain),
        "nfe_per_step": plain[0].forward_calls,
        "cprofile_seconds_per_step": phase_seconds(pstats.Stats(profiler), plan.profile_steps),
        "operators": top_operators(ops, plan.profile_steps),
    }


def print_summary(results: dict[str, Any]) -> None:
    speed = results["speed"]
    print(f"\n(a) identical settings, seed {speed['seed']}: median s/iter, network calls/iter")
    print(f"{'':6} {'s/iter':>8} {'CPU s':>8} {'forward':>8} {'backward':>8}")
    for name in ("ours", "zuko"):
        row = speed[name]
        print(
            f"{name:6} {row['median_seconds']:8.3f} {row['median_cpu_seconds']:8.3f} "
            f"{row['mean_forward_calls']:8.1f} {row['mean_backward_calls']:8.1f}"
        )
    print(
        f"zuko / ours: {speed['ratio_zuko_over_ours']:.2f} "
        f"(CPU time: {speed['ratio_zuko_over_ours_cpu']:.2f})"
    )
    if "race" in results:
        print_race(results["race"])
    print("\n(c) NFE of ours during training at the settings of (a)")
    for row in results["nfe_growth"]:
        print(
            f"iter {row['iteration']:5d}  nfe {row['nfe']:4d}  mean of 10 {row['mean_nfe_10']:6.1f}"
            f"  {row['median_seconds_10']:.3f} s/iter"
        )
    profiled = results["profile"]
    print(
        f"\n(c) one step of our recipe, unprofiled: {profiled['seconds_per_step'] * 1e3:.1f} ms, "
        f"{profiled['cpu_seconds_per_step'] * 1e3:.1f} ms CPU; under cProfile (CPU time):"
    )
    phases = profiled["cprofile_seconds_per_step"]
    for phase, seconds in phases.items():
        print(f"{phase:30} {seconds * 1e3:8.1f} ms {seconds / phases['whole step']:6.0%}")
    operators = profiled["operators"]
    print(f"operators, {operators['all_ops_self_ms_per_step']:.1f} ms self time per step in all:")
    for op in operators["top"][:5]:
        print(f"{op['op']:30} {op['self_ms_per_step']:8.1f} ms {op['calls_per_step']:6.0f} calls")


def print_race(race_results: dict[str, Any]) -> None:
    per_seed = race_results["per_seed"]
    print(
        f"\n(b) training seconds until the test NLL gap <= {TARGET_GAP} nats; ratios to the first"
    )
    header = "".join(f"{'seed ' + seed:>10}" for seed in per_seed)
    print(f"{'run':32}{header}{'median':>9}{'ratio':>7}{'CPU':>9}{'ratio':>7}")
    for index, row in enumerate(race_results["summary"]):
        cells = "".join(f"{crossing(runs[index]):>10}" for runs in per_seed.values())
        numbers = (
            f"{number(row['median_seconds'], '.1f'):>9}"
            f"{number(row['seconds_ratio_to_first'], '.2f'):>7}"
            f"{number(row['median_cpu_seconds'], '.1f'):>9}"
            f"{number(row['cpu_seconds_ratio_to_first'], '.2f'):>7}"
        )
        print(f"{row['name']:32}{cells}{numbers}")


def crossing(run: dict[str, Any]) -> str:
    return run["stopped"] if run["crossed"] is None else f"{run['crossed']['seconds']:.1f}"


def number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def record_load(results: dict[str, Any], part: str) -> None:
    """Note the machine's 1, 5 and 15 minute load averages after ``part`` (other users show)."""
    results.setdefault("load_average", {})[part] = [round(x, 2) for x in os.getloadavg()]


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
        "--runs",
        type=Recipe.parse,
        nargs="+",
        default=[Recipe.parse(text) for text in DEFAULT_RECIPES],
        help="the runs of the race (b), e.g. ours zuko:lr=3e-3 (see Recipe); ratios are to the "
        f"first. Default: {' '.join(DEFAULT_RECIPES)}",
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
        "environment": environment(torchdiffeq=torchdiffeq.__version__, zuko=zuko.__version__),
        "plan": asdict(plan),
        "test_set": test_noise(test),
    }
    print("(a) speed at identical settings", flush=True)
    results["speed"] = measure_speed(args.seeds[0], plan)
    record_load(results, "speed")
    print("(c) NFE growth and profile", flush=True)
    results["nfe_growth"] = measure_nfe_growth(args.seeds[0], plan)
    results["profile"] = profile_recipe(args.seeds[0], plan)
    record_load(results, "nfe growth and profile")
    save(results, args.out)
    per_seed: dict[str, list[dict[str, Any]]] = {}
    for seed in args.seeds:
        print(f"(b) race, seed {seed}", flush=True)
        per_seed[str(seed)] = race(seed, args.runs, test, plan)
        results["race"] = {"per_seed": per_seed, "summary": summarize_race(per_seed)}
        record_load(results, f"race seed {seed}")
        save(results, args.out)
    print_summary(results)


if __name__ == "__main__":
    main()
