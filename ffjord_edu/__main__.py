"""Command line: ``ffjord-edu train {toy,tabular,vae,images} …`` (the loop the notebooks use) and
``ffjord-edu notebooks DIR`` (the course, written into a folder)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import distributed
from .datasets import tabular, toy
from .flow_matching import OBJECTIVES
from .recipes import tabular_recipe
from .solvers import METHODS
from .trace import ESTIMATORS, NOISES
from .train import TrainConfig, train_tabular, train_toy

__all__ = ["main", "parser"]


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

    command.add_argument("--out", required=True, help="folder for checkpoint.pt, metrics.json")
    command.add_argument("--iters", type=int, default=default(1000))
    command.add_argument("--batch-size", type=int, default=default(512))
    command.add_argument("--lr", type=float, default=default(1e-3))
    command.add_argument("--schedule", choices=("constant", "cosine"), default=default("constant"))
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--hidden", type=_widths, default=default([64, 64, 64]))
    command.add_argument("--trace", choices=ESTIMATORS, default=default("exact"))
    command.add_argument("--noise", choices=NOISES, default=default("rademacher"))
    command.add_argument("--method", choices=METHODS, default=default("dopri5"))
    command.add_argument("--step-size", type=float, default=None)
    command.add_argument("--atol", type=float, default=default(1e-5))
    command.add_argument("--rtol", type=float, default=default(1e-5))
    command.add_argument("--adjoint", action="store_true")
    command.add_argument("--blocks", type=int, default=default(1))
    command.add_argument("--kinetic", type=float, default=default(0.0), help="RNODE weight")
    command.add_argument("--jacobian", type=float, default=default(0.0), help="RNODE weight")
    command.add_argument("--eval-every", type=int, default=default(100))
    command.add_argument("--resume", action="store_true", help="continue from --out")


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m ffjord_edu``."""
    main_parser = argparse.ArgumentParser(prog="python -m ffjord_edu", description=__doc__)
    commands = main_parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model")
    kinds = train.add_subparsers(dest="kind", required=True)
    toy_parser = kinds.add_parser("toy", help="a 2-D toy density")
    toy_parser.add_argument("--data", required=True, choices=toy.NAMES)
    toy_parser.add_argument("--eval-samples", type=int, default=10_000)
    toy_parser.add_argument(
        "--objective",
        choices=tuple(OBJECTIVES),
        default="mle",
        help="maximum likelihood (FFJORD) or flow matching, independent or OT coupling",
    )
    _add_common(toy_parser, defaults=True)
    tabular_parser = kinds.add_parser(
        "tabular", help="a tabular benchmark (validation-based early stopping)"
    )
    tabular_parser.add_argument("--data", required=True, choices=tabular.NAMES)
    tabular_parser.add_argument("--root", default=None, help="folder of the MAF data release")
    tabular_parser.add_argument("--preset", choices=("laptop", "paper"), default="laptop")
    _add_common(tabular_parser, defaults=False)
    images_parser = kinds.add_parser(
        "images", help="a multiscale CNF on digits (embedded), MNIST or CIFAR-10, in bits/dim"
    )
    images_parser.add_argument("--data", choices=("digits", "mnist", "cifar10"), default="digits")
    images_parser.add_argument("--root", default=None, help="folder of the MNIST/CIFAR-10 files")
    images_parser.add_argument("--preset", choices=("digits", "mnist", "cifar10"), default=None)
    images_parser.add_argument("--scales", type=int, default=None)
    images_parser.add_argument("--layer", choices=("concatsquash", "concat", "ignore"))
    images_parser.add_argument("--eval-trace", choices=ESTIMATORS, default=None)
    _add_common(images_parser, defaults=False)
    vae_parser = kinds.add_parser(
        "vae", help="a VAE on binarised images with a gaussian, planar or ffjord posterior"
    )
    vae_parser.add_argument("--posterior", required=True, choices=("gaussian", "planar", "ffjord"))
    vae_parser.add_argument("--data", choices=("digits", "mnist"), default="digits")
    vae_parser.add_argument("--root", default=None, help="folder of the MNIST idx files")
    vae_parser.add_argument("--latent-dim", type=int, default=None)
    vae_parser.add_argument("--flow-steps", type=int, default=None, help="planar maps / RK4 steps")
    vae_parser.add_argument("--ode-hidden", type=_widths, default=None)
    vae_parser.add_argument("--iwae-samples", type=int, default=500, help="for the test bound")
    _add_common(vae_parser, defaults=False)
    course = commands.add_parser(
        "notebooks", help="write the course's notebooks into a folder, ready to open"
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
    return main_parser


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
    """The options the user gave (``None`` and an unset flag mean: keep the preset's)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) not in (None, False)}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    if args.command == "notebooks":
        return _write_notebooks(args)
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
            args.data, config, args.out, model_options, args.resume, args.eval_samples
        )
    else:
        data = tabular.load(args.data, args.root)
        recipe = tabular_recipe(args.data, data.dim, args.preset, args.seed)
        overrides = _chosen(args, ("iters", "batch_size", "lr", "schedule"))
        if args.eval_every is not None:
            overrides.update(eval_every=args.eval_every, checkpoint_every=args.eval_every)
        config = replace(recipe.config, **overrides)
        model_options = {**recipe.model, **_chosen(args, MODEL_OPTIONS)}
        _, metrics = train_tabular(data, config, args.out, model_options, args.resume)
    summary = {k: v for k, v in metrics.items() if k not in ("history", "config")}
    if distributed.is_main():
        print(json.dumps(summary, indent=2))
    return 0


def _write_notebooks(args: argparse.Namespace) -> int:
    """``notebooks DIR``: the lessons, from the installed package, into ``DIR``."""
    from .course_files import write_course

    try:
        written = write_course(args.dir, student=args.student, overwrite=args.force)
    except FileExistsError as error:
        print(f"ffjord-edu notebooks: {error}", file=sys.stderr)
        return 2
    edition = "student" if args.student else "full"
    print(f"wrote the {edition} edition, {len(written)} notebooks, to {args.dir}")
    print(f"open it with: jupyter lab {args.dir / written[0].name}")
    return 0


def _train_vae(args: argparse.Namespace) -> dict[str, Any]:
    """``train vae``: the recipe of `ffjord_edu.models.vae.vae_recipe`, then the test bounds."""
    from .datasets import images
    from .models.vae import binary_vectors, evaluate_vae, train_vae, vae_recipe

    unsupported = [
        f"--{n}" for n in ("adjoint", "blocks", "kinetic", "jacobian") if _chosen(args, [n])
    ]
    if unsupported:
        raise SystemExit(f"train vae does not take {', '.join(unsupported)}")
    data = images.load(args.data, args.root)
    recipe, model_options = vae_recipe(args.posterior, args.data)
    overrides = _chosen(args, ("iters", "batch_size", "lr", "schedule", "seed"))
    if args.eval_every is not None:
        overrides.update(eval_every=args.eval_every, checkpoint_every=args.eval_every)
    config = replace(recipe, **overrides)
    names = ("hidden", "trace", "noise", "method", "step_size", "atol", "rtol")
    model_options.update(_chosen(args, (*names, "latent_dim", "flow_steps", "ode_hidden")))
    model, metrics = train_vae(data, config, args.out, model_options, args.resume)
    test = evaluate_vae(
        model, binary_vectors(data.test, data.levels), iwae_samples=args.iwae_samples
    )
    return {**metrics, **{f"test_{name}": value for name, value in test.items()}}


def _train_images(args: argparse.Namespace) -> dict[str, Any]:
    """``train images``: a preset of `ffjord_edu.image_training` (the data's own by default)."""
    from .datasets import images
    from .image_training import image_recipe, train_images

    recipe = image_recipe(args.preset or args.data)
    data = images.load(args.data, args.root)
    overrides = _chosen(args, ("iters", "batch_size", "lr", "schedule", "seed"))
    if args.eval_every is not None:
        overrides.update(eval_every=args.eval_every, checkpoint_every=args.eval_every)
    config = replace(recipe.config, **overrides)
    model_options = {**recipe.model, **_chosen(args, (*MODEL_OPTIONS, "scales", "layer"))}
    _, metrics = train_images(
        data, config, args.out, model_options, args.resume, args.eval_trace or recipe.eval_trace
    )
    return metrics


if __name__ == "__main__":
    sys.exit(main())
