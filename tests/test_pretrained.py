"""Shipped pretrained flows: each loads, and its NLL is the one data/README.md records."""

import re
from pathlib import Path

import pytest
import torch

from ffjord_edu import load_pretrained
from ffjord_edu.datasets import toy
from ffjord_edu.loading import available, pretrained_root
from ffjord_edu.training import evaluate_nll

README = Path(__file__).resolve().parents[1] / "data" / "README.md"
ROW = re.compile(r"^\| `pretrained/(?P<name>[\w/]+)\.pt` \| (?P<nll>[-\d.]+) \|", re.MULTILINE)


def recorded() -> dict[str, float]:
    return {m["name"]: float(m["nll"]) for m in ROW.finditer(README.read_text())}


def test_every_shipped_file_is_in_the_readme_and_the_other_way_round():
    assert sorted(recorded()) == available()


@pytest.mark.parametrize("name", sorted(n for n in recorded() if n.startswith("toy/")))
def test_pretrained_nll_matches_the_readme(name):  # other families: their own test files
    flow = load_pretrained(name)
    assert not flow.training
    assert (pretrained_root() / f"{name}.pt").stat().st_size < 1_000_000
    test = toy.sample(name.split("/")[1], 10_000, seed=2_147_483_647)
    torch.set_num_threads(1)
    assert evaluate_nll(flow, test) == pytest.approx(recorded()[name], abs=2e-3)


def test_missing_file_names_the_command_that_makes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FFJORD_EDU_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"python scripts/train_pretrained.py --only moons"):
        load_pretrained("toy/moons")


def test_a_missing_image_model_names_the_training_command(tmp_path, monkeypatch):
    monkeypatch.setenv("FFJORD_EDU_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"train images --data mnist --preset mnist"):
        load_pretrained("images/mnist")


@pytest.mark.parametrize("name", ["moons", "nosuchfamily/mnist", "toy/"])
def test_malformed_names(name):
    with pytest.raises(ValueError, match="family/model"):
        load_pretrained(name)
