"""Command line: ``python -m ffjord_edu train toy --data 8gaussians --iters 2000 --out runs/8g``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .datasets import toy
from .solvers import METHODS
from .trace import ESTIMATORS, NOISES
from .train import TrainConfig, train_toy

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


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m ffjord_edu``."""
    main_parser = argparse.ArgumentParser(prog="python -m ffjord_edu", description=__doc__)
    commands = main_parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model")
    kinds = train.add_subparsers(dest="kind", required=True)
    toy_parser = kinds.add_parser("toy", help="a 2-D toy density")
    toy_parser.add_argument("--data", required=True, choices=toy.NAMES)
    toy_parser.add_argument("--out", required=True, help="folder for checkpoint.pt, metrics.json")
    toy_parser.add_argument("--iters", type=int, default=1000)
    toy_parser.add_argument("--batch-size", type=int, default=512)
    toy_parser.add_argument("--lr", type=float, default=1e-3)
    toy_parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    toy_parser.add_argument("--seed", type=int, default=0)
    toy_parser.add_argument("--hidden", type=_widths, default=[64, 64, 64])
    toy_parser.add_argument("--trace", choices=ESTIMATORS, default="exact")
    toy_parser.add_argument("--noise", choices=NOISES, default="rademacher")
    toy_parser.add_argument("--method", choices=METHODS, default="dopri5")
    toy_parser.add_argument("--step-size", type=float, default=None)
    toy_parser.add_argument("--atol", type=float, default=1e-5)
    toy_parser.add_argument("--rtol", type=float, default=1e-5)
    toy_parser.add_argument("--adjoint", action="store_true")
    toy_parser.add_argument("--blocks", type=int, default=1)
    toy_parser.add_argument("--eval-every", type=int, default=100)
    toy_parser.add_argument("--eval-samples", type=int, default=10_000)
    toy_parser.add_argument("--resume", action="store_true", help="continue from --out")
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    config = TrainConfig(
        iters=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        schedule=args.schedule,
        seed=args.seed,
        eval_every=args.eval_every,
        checkpoint_every=args.eval_every,
    )
    model_options = {
        "hidden": args.hidden,
        "trace": args.trace,
        "noise": args.noise,
        "method": args.method,
        "step_size": args.step_size,
        "atol": args.atol,
        "rtol": args.rtol,
        "adjoint": args.adjoint,
        "blocks": args.blocks,
    }
    _, metrics = train_toy(
        args.data, config, args.out, model_options, args.resume, args.eval_samples
    )
    summary = {k: v for k, v in metrics.items() if k not in ("history", "config")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
