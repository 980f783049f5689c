"""Notebook 11's machinery: the picture trainer, the playground widgets and their checkers."""

import datetime
import io
import math
import time

import numpy as np
import pytest
import torch
from PIL import Image

from ffjord_edu.course import checks
from ffjord_edu.datasets import picture
from ffjord_edu.training.picture import (
    PictureTrainer,
    evaluate_picture,
    picture_model,
    picture_recipe,
)
from ffjord_edu.viz.player import FramePlayer
from ffjord_edu.viz.playground import Playground, flow_player, leaked_fraction, uploaded_files


@pytest.fixture(scope="module")
def word() -> picture.PictureDensity:
    return picture.from_text("Hi", height=16)


def small_trainer(word, objective="flow matching", batch=64) -> PictureTrainer:
    config = picture_recipe(objective, iters=10)
    config.batch_size = batch
    return PictureTrainer(picture_model(objective), word, config)


def test_training_repeats_exactly(word):
    first, second = small_trainer(word), small_trainer(word)
    first.run(3)
    second.run(3)
    assert [r["loss"] for r in first.history] == [r["loss"] for r in second.history]


def test_run_stops_when_asked_and_resumes(word):
    trainer = small_trainer(word)
    assert trainer.run(5, should_stop=lambda: trainer.iteration >= 2) == 2
    assert trainer.run(1) == 1 and trainer.iteration == 3


def test_maximum_likelihood_solves_and_rnode_adds_penalties(word):
    trainer = small_trainer(word, "maximum likelihood + RNODE", batch=16)
    record = trainer.step()
    assert record["nfe"] > 1  # an RK4 solve, not one evaluation
    assert set(trainer.model.penalties) == {"kinetic", "jacobian"}


def test_unknown_objective_names_the_choices():
    with pytest.raises(ValueError, match="flow matching, maximum likelihood"):
        picture_recipe("adversarial")


def test_kl_gap_is_nll_minus_the_exact_entropy(word):
    model = picture_model()
    metrics = evaluate_picture(model, word, n=200)
    assert metrics["kl_gap"] == pytest.approx(metrics["test_nll"] - word.entropy())
    assert metrics["kl_gap"] > 0  # an untrained flow is far from the word


def test_the_data_itself_leaks_nothing(word):
    assert leaked_fraction(word, word.sample(500)) == 0.0
    assert leaked_fraction(word, torch.tensor([[100.0, 100.0]])) == 1.0


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(name: str, content: bytes) -> tuple[dict, ...]:
    """A FileUpload value as ipywidgets 8 holds it."""
    entry = {"name": name, "type": "image/png", "size": len(content)}
    entry["last_modified"] = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return ({**entry, "content": memoryview(content)},)


def test_uploads_of_both_ipywidgets_versions():
    content = b"\x89PNG..."
    seven = {"a.png": {"metadata": {"name": "a.png", "size": 7}, "content": content}}
    eight = ({"name": "a.png", "type": "image/png", "size": 7, "content": memoryview(content)},)
    assert uploaded_files(seven) == uploaded_files(eight) == [("a.png", content)]
    assert uploaded_files(()) == uploaded_files({}) == []


def test_playground_trains_from_a_word_and_an_upload():
    playground = Playground("Hi", refresh_every=2, view_samples=200)
    before = playground.view.value
    playground.text.value = "OK"
    assert playground.density.name == "OK" and playground.model is None
    assert playground.train(steps=3) == 3
    assert playground.status.value.startswith("OK: step 3, loss")
    assert playground.view.value != before and playground.nfe[-1][0] == 3
    ink = np.full((20, 30), 255)
    ink[5:15, 10:20] = 0
    playground.upload.value = upload("square.png", png(ink))
    assert playground.density.name == "square.png" and playground.trainer is None


def test_playground_reports_bad_input_and_keeps_the_picture():
    playground = Playground("Hi", view_samples=100)
    playground.text.value = "   "
    assert playground.status.value.startswith("⚠ the text is empty")
    playground.upload.value = upload("notes.txt", b"plain text")
    assert "notes.txt" in playground.status.value and "PNG or JPEG" in playground.status.value
    assert playground.density.name == "Hi"


def test_train_button_runs_in_the_background_and_stop_ends_it():
    playground = Playground("Hi", steps_per_click=100_000, refresh_every=10**9, view_samples=100)
    playground.button.click()
    assert playground.running and playground.button.description == "Stop"
    deadline = time.monotonic() + 60
    while (playground.trainer is None or playground.trainer.iteration < 2) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    playground.button.click()
    assert not playground.running and playground.button.description == "Train"
    assert 2 <= playground.trainer.iteration < 100_000


def test_flow_player_has_one_frame_per_time(word):
    player, times = flow_player(picture_model(), word, frames=3, particles=300)
    assert isinstance(player, FramePlayer) and len(player.frames) == 3
    assert times.tolist() == [0.0, 0.5, 1.0]


# --- the checkers of notebook 11 ------------------------------------------------------------------


def test_kinetic_energy_checker(monkeypatch, capsys):
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "0")

    def right(paths, times):
        dt = times[1:] - times[:-1]
        return ((paths[1:] - paths[:-1]).pow(2).sum(-1) / dt[:, None]).sum(0).mean()

    def uniform_dt(paths, times):  # ignores the uneven time grid
        return ((paths[1:] - paths[:-1]).pow(2).sum(-1) * (len(times) - 1)).sum(0).mean()

    assert checks.check_kinetic_energy(right)
    assert not checks.check_kinetic_energy(uniform_dt)
    assert not checks.check_kinetic_energy(lambda p, t: (p[1:] - p[:-1]).norm(dim=-1).sum(0).mean())
    assert "path length" in capsys.readouterr().out


def test_kl_floor_checker(monkeypatch, capsys):
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "0")
    assert checks.check_kl_floor(lambda leaked: -math.log(1 - leaked))
    assert not checks.check_kl_floor(lambda leaked: leaked)
    assert "first-order" in capsys.readouterr().out


def test_shipped_word_model_matches_the_readme():
    import re
    from pathlib import Path

    from ffjord_edu import load_pretrained

    readme = (Path(__file__).resolve().parents[1] / "data" / "README.md").read_text()
    row = re.search(r"^\| `pretrained/picture/ffjord\.pt` \| (?P<nll>[\d.]+) \|", readme, re.M)
    torch.set_num_threads(1)
    metrics = evaluate_picture(
        load_pretrained("picture/ffjord"), picture.from_text("FFJORD"), 10_000
    )
    assert metrics["test_nll"] == pytest.approx(float(row["nll"]), abs=2e-3)
