"""Slips found in the lessons stay fixed: the wrong sentences never come back, the right ones stay.

Each entry quotes a sentence that was wrong (issue 16) and a phrase of its correction. The text of
a notebook is every cell's source with runs of whitespace collapsed, so a reflowed line still
matches.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# notebook prefix -> (wrong phrases that must not reappear, phrases of the correction that must stay)
SLIPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "00": (("Notebooks appear in `notebooks/` as the course grows",), ()),
    "01": (
        ("leaves thin bridges between them: every layer can only move one coordinate",),
        ("Those come from topology, not from the coupling design",),
    ),
    "03": (
        (r"Jacobi's formula, $\frac{d}{dt}\log\det\Phi_t' = \operatorname{Tr}J$",),
        (
            "Liouville's formula",
            r"Jacobi's formula $d\det A = \det A\,\operatorname{Tr}(A^{-1}dA)$",
        ),
    ),
    "04": (
        (
            "Why then does FFJORD keep plain Hutchinson",
            "the network's Jacobian has no reason to have a steeply decaying spectrum",
        ),
        ("**bottleneck trick** (paper §3.1.1)",),
    ),
    "06": (
        (
            r"(the spectral radius $\rho$) caps the step at about $x_s/\rho$",
            r"Stiffness caps an explicit solver's step at $x_s/\rho",
            "dopri5's stability limit allows steps",
            "where the flow tears the Gaussian into eight pieces",
        ),
        (r"so it sees those of $-\partial f/\partial z$", "as a rough proxy"),
    ),
    "07": (
        (
            "the test rows must not leak into anything the model saw, not even through their mean",
            "with the Real NVP row reported in the same table",
            "| Real NVP | FFJORD |",
            "| −153.28 | **−157.40** |",
        ),
        (
            "| MAF-DDSF | autoregressive flow | **−0.62** | **−11.96** | 15.09 | **8.86** | **−157.73** |",
            "| Glow | coupling flow | −0.17 | −8.15 | 18.92 | 11.35 | −155.07 |",
            "MAF's code standardises POWER, HEPMASS and MINIBOONE with train and validation",
        ),
    ),
    "08": (
        (
            r"with a **temperature** $\tau < 1$ stays near the mode",
            r"**concat-squash** layers, $(W * h + b) \odot \sigma(g t + c) + h' t$",
        ),
        ("which is not the mode of the data density", "`--layer_type concat`"),
    ),
    "09": (
        (
            "dynamic binarisation",
            r"the difference between the two columns estimates $\mathrm{KL}",
            "−ELBO − (−IWAE) estimates the KL",
        ),
        ("statically binarised", "is a *lower bound* on"),
    ),
    "10": (
        (
            r"A straight path from $z_0$ to $z_1$ is integrated *exactly* by a single Euler step",
            "generator=path_generator),)) # straight lines",
        ),
        ("straightness_gap", "straight line run at **constant speed**"),
    ),
}


def lesson_text(prefix: str) -> str:
    """Every cell's source of notebook ``prefix``_*.ipynb, whitespace collapsed to single spaces."""
    (path,) = NOTEBOOKS.glob(f"{prefix}_*.ipynb")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return re.sub(r"\s+", " ", " ".join("".join(cell["source"]) for cell in cells))


@pytest.mark.parametrize("prefix", sorted(SLIPS))
def test_the_wrong_sentences_are_gone_and_their_corrections_stay(prefix):
    text = lesson_text(prefix)
    wrong, right = SLIPS[prefix]
    back = [phrase for phrase in wrong if re.sub(r"\s+", " ", phrase) in text]
    assert not back, f"notebook {prefix} says again what issue 16 corrected: {back}"
    lost = [phrase for phrase in right if re.sub(r"\s+", " ", phrase) not in text]
    assert not lost, f"notebook {prefix} lost a correction of issue 16: {lost}"
