"""Command line: ``ffjord-edu train {toy,tabular,vae,images} …`` (also ``python -m ffjord_edu``),
the training loop the notebooks use, and ``ffjord-edu notebooks DIR``, the course written into a
folder."""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from .datasets import images, tabular, toy
from .models.conv_nets import CONV_LAYERS
from .models.flow_matching import OBJECTIVES
from .models.posteriors import POSTERIORS
from .solvers import METHODS, StepBudgetExceeded, StepSizeUnderflow
from .trace import ESTIMATORS, NOISES
from .training import NonFiniteLossError, TrainConfig, distributed, train_tabular, train_toy
from .training.checkpoints import DamagedCheckpoint, RunFolderBusy
from .training.loop import SCHEDULES
from .training.recipes import IMAGE_PRESETS, TABULAR_PRESETS, VAE_DATA, tabular_recipe

__all__ = ["main", "parser", "program_name"]

# Errors a user can fix (a bad option, a missing or damaged file, a busy folder, a diverged
# run): `main` prints their message as one line and exits with status 1, without a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,
    ImportError,  # an optional package a data set needs; the message names the pip command
    pickle.UnpicklingError,  # a data file that asks to run code (refused)
    DamagedCheckpoint,
    NonFiniteLossError,
    RunFolderBusy,
    StepBudgetExceeded,
    StepSizeUnderflow,
)
EXIT_USER_ERROR = 1
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C


def program_name(argv0: str | None = None) -> str:
    """How the program was called, for help and messages: ``python -m ffjord_edu`` when run as
    a module, else the script's name (``ffjord-edu`` for the installed command)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    if not argv0 or argv0 in ("-c", "-m") or Path(argv0).name in ("__main__.py", "-m"):
        return "python -m ffjord_edu"
    return Path(argv0).name


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: …)" to every option's help, except where the help already says what
    the default is (options whose default is the chosen preset's value)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS) or action.required:
            return text
        return super()._get_help_string(action) or text


# --- option types: zero, negative and non-finite values are refused here, by name ----------


def _number(kind: Callable[[str], Any], low: float, inclusive: bool) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            bound = f">= {low:g}" if inclusive else f"> {low:g}"
            raise argparse.ArgumentTypeError(f"must be finite and {bound}, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


_positive_int = _number(int, 1, inclusive=True)
_non_negative_int = _number(int, 0, inclusive=True)
_positive_float = _number(float, 0.0, inclusive=False)
_non_negative_float = _number(float, 0.0, inclusive=True)


def _widths(text: str) -> list[int]:
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"hidden sizes are integers like 64,64,64, got {text!r}"
        ) from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got '{text}'")
    return widths


def _add_common(command: argparse.ArgumentParser, defaults: bool) -> None:
    """Options shared by every kind of training. Without ``defaults`` an option left out keeps
    the preset's value."""

    def default(value: Any) -> Any:
        return value if defaults else None

    preset = "" if defaults else " (default: the preset's)"
    command.add_argument(
        "--out",
        required=True,
        help="folder for checkpoint.pt, best.pt and metrics.json (made if missing; one run at a time)",
    )
    command.add_argument(
        "--iters", type=_positive_int, default=default(1000), help="optimiser steps in all" + preset
    )
    command.add_argument(
        "--batch-size",
        type=_positive_int,
        default=default(512),
        help="samples per optimiser step" + preset,
    )
    command.add_argument(
        "--lr", type=_positive_float, default=default(1e-3), help="Adam's learning rate" + preset
    )
    command.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=default("constant"),
        help="learning-rate schedule: constant, or cosine decay to 0 at --iters" + preset,
    )
    command.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="seed of every batch and probe (a resumed run repeats an uninterrupted one)",
    )
    command.add_argument(
        "--hidden",
        type=_widths,
        default=default([64, 64, 64]),
        help="hidden widths of the ODE network, comma-separated like 64,64,64" + preset,
    )
    command.add_argument(
        "--trace",
        choices=ESTIMATORS,
        default=default("exact"),
        help="divergence: exact (D backward passes) or Hutchinson's estimate (one)" + preset,
    )
    command.add_argument(
        "--noise",
        choices=NOISES,
        default=default("rademacher"),
        help="distribution of Hutchinson's probe" + preset,
    )
    command.add_argument(
        "--method",
        choices=METHODS,
        default=default("dopri5"),
        help="ODE solver: dopri5 adapts its steps to --atol/--rtol, the others take fixed "
        "steps of --step-size" + preset,
    )
    command.add_argument(
        "--step-size",
        type=_positive_float,
        default=None,
        help="step of the fixed-step solvers, in units of time (each block runs from t=0 to "
        "t=1) (default: the preset's; without one, one step per block)",
    )
    command.add_argument(
        "--atol",
        type=_positive_float,
        default=default(1e-5),
        help="dopri5's absolute error tolerance per step" + preset,
    )
    command.add_argument(
        "--rtol",
        type=_positive_float,
        default=default(1e-5),
        help="dopri5's relative error tolerance per step" + preset,
    )
    command.add_argument(
        "--adjoint",
        action="store_true",
        help="backpropagate with the adjoint method (memory constant in the number of steps)",
    )
    command.add_argument(
        "--blocks",
        type=_positive_int,
        default=default(1),
        help="how many CNF blocks to stack, each with its own network" + preset,
    )
    command.add_argument(
        "--kinetic",
        type=_non_negative_float,
        default=default(0.0),
        help="weight of the RNODE kinetic-energy penalty (0 = off)" + preset,
    )
    command.add_argument(
        "--jacobian",
        type=_non_negative_float,
        default=default(0.0),
        help="weight of the RNODE Jacobian-Frobenius penalty (0 = off)" + preset,
    )
    command.add_argument(
        "--eval-every",
        type=_positive_int,
        default=default(100),
        help="evaluate and write the checkpoint every this many steps" + preset,
    )
    command.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --out (same data and settings; --iters may grow)",
    )
    command.add_argument(
        "--allow-changes",
        action="store_true",
        help="with --resume: continue even though the data or training settings differ "
        "from the saved run's (for example a lower --lr after a diverged run)",
    )


def _add_train(commands: Any) -> None:
    """``train {toy,tabular,images,vae}``."""
    train = commands.add_parser(
        "train", help="train a model", description="Train a model.", formatter_class=_HelpFormatter
    )
    train.set_defaults(run=_train)
    kinds = train.add_subparsers(dest="kind", required=True)

    def kind(name: str, text: str) -> argparse.ArgumentParser:
        return kinds.add_parser(name, help=text, description=text, formatter_class=_HelpFormatter)

    toy_parser = kind("toy", "a 2-D toy density")
    toy_parser.add_argument(
        "--data", required=True, choices=toy.NAMES, help="which toy density (required)"
    )
    toy_parser.add_argument(
        "--eval-samples",
        type=_positive_int,
        default=10_000,
        help="fresh samples for the test NLL (nats)",
    )
    toy_parser.add_argument(
        "--objective",
        choices=tuple(OBJECTIVES),
        default="mle",
        help="maximum likelihood (FFJORD) or flow matching, independent or OT coupling",
    )
    _add_common(toy_parser, defaults=True)
    tabular_parser = kind("tabular", "a tabular benchmark (validation-based early stopping)")
    tabular_parser.add_argument(
        "--data", required=True, choices=tabular.NAMES, help="which data set (required)"
    )
    tabular_parser.add_argument(
        "--root",
        default=None,
        help="folder of the MAF data release (default: none; breast_cancer needs no files)",
    )
    tabular_parser.add_argument(
        "--preset",
        choices=TABULAR_PRESETS,
        default="laptop",
        help="settings: a small CPU recipe, or FFJORD's published ones",
    )
    _add_common(tabular_parser, defaults=False)
    images_parser = kind(
        "images", "a multiscale CNF on digits (embedded), MNIST or CIFAR-10, in bits/dim"
    )
    images_parser.add_argument(
        "--data", choices=images.NAMES, default="digits", help="which images"
    )
    images_parser.add_argument(
        "--root",
        default=None,
        help="folder of the MNIST/CIFAR-10 files (default: none; digits needs no files)",
    )
    images_parser.add_argument(
        "--preset",
        choices=tuple(IMAGE_PRESETS),
        default=None,
        help="model and training settings (default: the one named like --data)",
    )
    images_parser.add_argument(
        "--scales",
        type=_positive_int,
        default=None,
        help="multiscale levels, each halving the image size (default: the preset's)",
    )
    images_parser.add_argument(
        "--layer",
        choices=tuple(CONV_LAYERS),
        help="how the convolutions see time (default: the preset's)",
    )
    images_parser.add_argument(
        "--eval-trace",
        choices=ESTIMATORS,
        default=None,
        help="trace estimator of the final test bits/dim (default: the preset's)",
    )
    _add_common(images_parser, defaults=False)
    vae_parser = kind(
        "vae", "a VAE on binarised images with a gaussian, planar or ffjord posterior"
    )
    vae_parser.add_argument(
        "--posterior",
        required=True,
        choices=tuple(POSTERIORS),
        help="the approximate posterior q(z|x) (required)",
    )
    vae_parser.add_argument("--data", choices=VAE_DATA, default="digits", help="which images")
    vae_parser.add_argument(
        "--root",
        default=None,
        help="folder of the MNIST idx files (default: none; digits needs no files)",
    )
    vae_parser.add_argument(
        "--latent-dim",
        type=_positive_int,
        default=None,
        help="dimension of the latent z (default: the preset's, 2)",
    )
    vae_parser.add_argument(
        "--flow-steps",
        type=_positive_int,
        default=None,
        help="planar maps, or RK4 steps of the ffjord posterior (default: the preset's, 4)",
    )
    vae_parser.add_argument(
        "--ode-hidden",
        type=_widths,
        default=None,
        help="hidden widths of the ffjord posterior's network, like 64,64 (default: the preset's)",
    )
    vae_parser.add_argument(
        "--iwae-samples",
        type=_non_negative_int,
        default=500,
        help="importance samples per image for the test IWAE bound (0 = skip it)",
    )
    _add_common(vae_parser, defaults=False)


def parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``ffjord-edu`` (``python -m ffjord_edu``); ``prog`` defaults to
    `program_name`. Each subcommand sets ``run``, the function `main` calls with the options."""
    main_parser = argparse.ArgumentParser(
        prog=prog or program_name(),
        description="Write the course into a folder, or train its models with the loop the "
        "notebooks use.",
        formatter_class=_HelpFormatter,
    )
    commands = main_parser.add_subparsers(dest="command", required=True)
    _add_train(commands)
    _add_notebooks(commands)
    return main_parser


def _add_notebooks(commands: Any) -> None:
    """``notebooks DIR [--student] [--force]``: the lessons, from the installed package."""
    text = "write the course's notebooks into a folder, ready to open"
    course = commands.add_parser(
        "notebooks", help=text, description=text, formatter_class=_HelpFormatter
    )
    course.add_argument("dir", type=Path, help="folder to write into (created if missing)")
    course.add_argument(
        "--student",
        action="store_true",
        help="the student edition: solutions blanked, checks kept (default: the full edition)",
    )
    course.add_argument(
        "--force", action="store_true", help="overwrite notebooks already in DIR (default: refuse)"
    )
    course.set_defaults(run=_write_notebooks)


MODEL_OPTIONS = (
    "hidden",
    "trace",
    "noise",
    "method",
    "step_size",
    "atol",
    "rtol",
    "adjoint",
    "blocks",
    "kinetic",
    "jacobian",
)


def _chosen(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The options the user gave: ``None`` and an unset flag mean "keep the preset's". (Tested
    by identity: ``0 == False``, so ``--lr 0`` must not look like an unset flag.)"""
    chosen = {}
    for name in names:
        value = getattr(args, name)
        if value is not None and value is not False:
            chosen[name] = value
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status: 0, 1 for an error the user can fix (its
    message printed as one line, no traceback), 2 for a bad option, 130 after Ctrl-C (with the
    command that resumes)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = program_name()
    args = parser(prog).parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted. {_resume_hint(prog, argv, args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as error:
        if os.environ.get("FFJORD_EDU_TRACEBACK"):
            raise
        print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USER_ERROR


def _resume_hint(prog: str, argv: list[str], args: argparse.Namespace) -> str:
    out = getattr(args, "out", None)
    if out is None or not (Path(out) / "checkpoint.pt").is_file():
        return "No checkpoint was written yet; run the same command again to start over."
    again = argv if "--resume" in argv else [*argv, "--resume"]
    return f"The last checkpoint is in {out}; continue from it with:\n  {prog} {shlex.join(again)}"


def _train(args: argparse.Namespace) -> int:
    """``train …``: one kind of model, then its metrics printed as JSON."""
    distributed.setup_from_environment()  # under torchrun: one process per GPU (or CPU share)
    if args.kind == "vae":
        metrics = _train_vae(args)
    elif args.kind == "images":
        metrics = _train_images(args)
    elif args.kind == "toy":
        config = TrainConfig(
            iters=args.iters,
            batch_size=args.batch_size,
            lr=args.lr,
            schedule=args.schedule,
            seed=args.seed,
            eval_every=args.eval_every,
            checkpoint_every=args.eval_every,
            objective=args.objective,
        )
        model_options = {name: getattr(args, name) for name in MODEL_OPTIONS}
        _, metrics = train_toy(
            args.data,
            config,
            args.out,
            model_options,
            args.resume,
            args.eval_samples,
            allow_changes=args.allow_changes,
        )
    else:
        data = tabular.load(args.data, args.root)
        recipe = tabular_recipe(args.data, data.dim, args.preset, args.seed)
        overrides = _chosen(args, ("iters", "batch_size", "lr", "schedule"))
        if args.eval_every is not None:
            overrides.update(eval_every=args.eval_every, checkpoint_every=args.eval_every)
        config = replace(recipe.config, **overrides)
        model_options = {**recipe.model, **_chosen(args, MODEL_OPTIONS)}
        _, metrics = train_tabular(
            data, config, args.out, model_options, args.resume, allow_changes=args.allow_changes
        )
    summary = {k: v for k, v in metrics.items() if k not in ("history", "config")}
    if distributed.is_main():
        print(json.dumps(summary, indent=2))
    return 0


def _write_notebooks(args: argparse.Namespace) -> int:
    """``notebooks DIR``: the lessons, from the installed package, into ``DIR`` (a clash with
    notebooks already there is a user error: one line, exit 1)."""
    from .course.files import write_course

    written = write_course(args.dir, student=args.student, overwrite=args.force)
    edition = "student" if args.student else "full"
    print(f"wrote the {edition} edition, {len(written)} notebooks, to {args.dir}")
    print(f"open it with: jupyter lab {args.dir / written[0].name}")
    return 0


def _train_vae(args: argparse.Namespace) -> dict[str, Any]:
    """``train vae``: the recipe of `ffjord_edu.training.recipes.vae_recipe`, then the test bounds."""
    from .models.vae import evaluate_vae
    from .training import train_vae
    from .training.recipes import vae_recipe

    unsupported = [
        f"--{n}" for n in ("adjoint", "blocks", "kinetic", "jacobian") if _chosen(args, [n])
    ]
    if unsupported:
        raise ValueError(f"train vae does not take {', '.join(unsupported)}")
    data = images.load(args.data, args.root)
    recipe = vae_recipe(args.posterior, args.data)
    model_options = dict(recipe.model)
    overrides = _chosen(args, ("iters", "batch_size", "lr", "schedule", "seed"))
    if args.eval_every is not None:
        overrides.update(eval_every=args.eval_every, checkpoint_every=args.eval_every)
    config = replace(recipe.config, **overrides)
    names = ("hidden", "trace", "noise", "method", "step_size", "atol", "rtol")
    model_options.update(_chosen(args, (*names, "latent_dim", "flow_steps", "ode_hidden")))
    model, metrics = train_vae(
        data, config, args.out, model_options, args.resume, allow_changes=args.allow_changes
    )
    test = evaluate_vae(
        model, images.binary_vectors(data.test, data.levels), iwae_samples=args.iwae_samples
    )
    return {**metrics, **{f"test_{name}": value for name, value in test.items()}}


def _train_images(args: argparse.Namespace) -> dict[str, Any]:
    """``train images``: a preset of `ffjord_edu.training.recipes` (the data's own by default)."""
    from .training import train_images
    from .training.recipes import image_recipe

    recipe = image_recipe(args.preset or args.data)
    data = images.load(args.data, args.root)
    overrides = _chosen(args, ("iters", "batch_size", "lr", "schedule", "seed"))
    if args.eval_every is not None:
        overrides.update(eval_every=args.eval_every, checkpoint_every=args.eval_every)
    config = replace(recipe.config, **overrides)
    model_options = {**recipe.model, **_chosen(args, (*MODEL_OPTIONS, "scales", "layer"))}
    _, metrics = train_images(
        data,
        config,
        args.out,
        model_options,
        args.resume,
        args.eval_trace or recipe.eval_trace,
        allow_changes=args.allow_changes,
    )
    return metrics


if __name__ == "__main__":
    sys.exit(main())
