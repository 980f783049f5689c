"""Exercise checkers: helpful messages, never a traceback; strict mode raises."""

import pytest
import torch

from ffjord_edu.checks import ExerciseError, check_close, check_function, check_true


@pytest.fixture(autouse=True)
def lenient(monkeypatch):
    monkeypatch.delenv("FFJORD_EDU_STRICT_CHECKS", raising=False)


@pytest.mark.parametrize(
    ("answer", "ok", "message"),
    [
        (0.75, True, "✅ the sum is right."),
        (0.7, False, "❌ the sum is off: got 0.7, expected 0.75. Hint: add both"),
        (..., False, "✋ the sum is still `...`"),
        (None, False, "forget to `return`"),
        ("three quarters", False, "should be a number or a tensor, got str"),
        (torch.ones(2), False, "has shape (2,), expected ()"),
    ],
)
def test_check_close_messages(answer, ok, message, capsys):
    assert check_close(answer, 0.75, name="the sum", hint="add both") is ok
    assert message in capsys.readouterr().out


def test_tensors_report_the_largest_error(capsys):
    assert not check_close(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0]))
    assert "off by up to 0.5" in capsys.readouterr().out


def test_check_function(capsys):
    def square(x):
        return x * x

    assert check_function(square, lambda x: x**2, [(2.0,), (torch.arange(3.0),)], "square")
    assert "right on all 2 test inputs" in capsys.readouterr().out
    assert not check_function(lambda x: x + x, square, [(3.0,)], "square")
    assert "square's result is off: got 6, expected 9" in capsys.readouterr().out
    assert not check_function(lambda x: 1 / 0, square, [(3.0,)], "square")
    assert "raised ZeroDivisionError" in capsys.readouterr().out
    assert not check_function(..., square, [(3.0,)], "square")
    assert "still `...`" in capsys.readouterr().out


def test_check_true(capsys):
    assert check_true(2 > 1, "bigger", "smaller")
    assert not check_true(..., "bigger", "smaller")
    assert "✋" in capsys.readouterr().out


def test_strict_mode_raises(monkeypatch):
    monkeypatch.setenv("FFJORD_EDU_STRICT_CHECKS", "1")
    assert check_close(1.0, 1.0)
    with pytest.raises(ExerciseError, match="is off"):
        check_close(2.0, 1.0)
