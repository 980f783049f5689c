"""Three VAE posteriors on binarised digits: test −ELBO and −IWAE of the shipped models.

The models are `data/pretrained/vae/{gaussian,planar,ffjord}.pt`, made by
``python scripts/train_vae.py --parallel`` with `ffjord_edu.models.vae.vae_recipe`: the same
encoder (64-128-128), decoder (2-128-128-64), 2-D latent, 3,000 Adam steps of batch 128 and
cosine schedule from lr 2e-3 for every posterior; they differ only in the posterior
(a diagonal Gaussian; + 4 amortised planar maps; + an amortised CNF integrated with 4 RK4 steps
and Hutchinson's trace in training). The three trained at the same time, one process and one
thread each, so they shared the machine's load; their training seconds and load averages come
from the models' json files.

Measured here on the 360 test digits (fixed binarisation), the FFJORD posterior integrated
with dopri5 at atol = rtol = 1e-5 and the exact trace:

- the −ELBO with ``--elbo-samples`` draws per image (seed 0), its standard error over images,
  and the mean per-image difference to FFJORD's with its standard error (paired: the same
  images, so the image-to-image spread cancels);
- −IWAE with ``--iwae-samples`` importance samples, an estimate of −log p(x); the difference
  −ELBO − (−IWAE) estimates the KL from q(z|x) to the true posterior that the ELBO loses;
- the seconds each evaluation took (one thread).

    python benchmarks/vae.py                  # ~10 min on a shared CPU thread
    python benchmarks/vae.py --iwae-samples 50 --out /tmp/vae.json   # quick

Writes ``benchmarks/results/vae.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import torch

from ffjord_edu import load_pretrained
from ffjord_edu.datasets import images
from ffjord_edu.datasets.images import binary_vectors
from ffjord_edu.loading import pretrained_root
from ffjord_edu.models.vae import EVALUATE

POSTERIORS = ("gaussian", "planar", "ffjord")
ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def per_image(model, x: torch.Tensor, elbo_samples: int, iwae_samples: int) -> dict:
    torch.manual_seed(0)
    started = time.perf_counter()
    with model.using(**EVALUATE):
        elbo = torch.cat([model.elbo(rows, elbo_samples) for rows in x.split(100)])
        elbo_seconds = time.perf_counter() - started
        iwae = torch.cat([model.iwae(rows, iwae_samples) for rows in x.split(100)])
    return {
        "elbo": elbo,
        "iwae": iwae,
        "elbo_seconds": elbo_seconds,
        "iwae_seconds": time.perf_counter() - started - elbo_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elbo-samples", type=int, default=16)
    parser.add_argument("--iwae-samples", type=int, default=500)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "vae.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = images.load("digits")
    test = binary_vectors(data.test, data.levels)
    load_before = os.getloadavg()[0]
    measured = {}
    for name in POSTERIORS:
        measured[name] = per_image(
            load_pretrained(f"vae/{name}"), test, args.elbo_samples, args.iwae_samples
        )
    root_n = math.sqrt(len(test))
    results = {}
    for name in POSTERIORS:
        m = measured[name]
        trained = json.loads((pretrained_root() / "vae" / f"{name}.json").read_text())
        difference = -m["elbo"] + measured["ffjord"]["elbo"]  # −ELBO(name) − (−ELBO(ffjord))
        results[name] = {
            "test_neg_elbo": -float(m["elbo"].mean()),
            "test_neg_elbo_se": float(m["elbo"].std()) / root_n,
            "minus_ffjord": float(difference.mean()),
            "minus_ffjord_se": float(difference.std()) / root_n,
            "test_neg_iwae": -float(m["iwae"].mean()),
            "elbo_gap_to_iwae": float((m["iwae"] - m["elbo"]).mean()),
            "elbo_seconds": m["elbo_seconds"],
            "iwae_seconds": m["iwae_seconds"],
            "iters": trained["iters"],
            "train_seconds": trained["train_seconds"],
            "train_load_average": trained["load_average"],
            "nfe_forward_per_iter": trained["nfe_forward_per_iter"],
        }
        print(
            f"{name:<9} −ELBO {results[name]['test_neg_elbo']:.3f} "
            f"(vs FFJORD {results[name]['minus_ffjord']:+.3f} ± {results[name]['minus_ffjord_se']:.3f})"
            f"  −IWAE{args.iwae_samples} {results[name]['test_neg_iwae']:.3f}"
            f"  gap {results[name]['elbo_gap_to_iwae']:.3f}"
            f"  trained {trained['train_seconds']:.0f} s"
        )
    payload = {
        "benchmark": "digits VAE: gaussian vs planar vs ffjord posterior",
        "test_images": len(test),
        "elbo_samples": args.elbo_samples,
        "iwae_samples": args.iwae_samples,
        "evaluation": "FFJORD posterior: dopri5 atol=rtol=1e-5, exact trace; seed 0",
        "load_average": [load_before, os.getloadavg()[0]],
        "machine": f"{platform.processor() or platform.machine()}, 1 thread",
        "torch": str(torch.__version__),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
