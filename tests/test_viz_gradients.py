"""Notebook 06's gradient costs: exact saved-memory counts, backprop against the adjoint."""

import matplotlib.pyplot as plt
import pytest
import torch

import ffjord_edu
from ffjord_edu.viz import (
    gradient_costs,
    plot_gradient_costs,
    relative_difference,
    saved_bytes,
)


def test_saved_bytes_counts_what_backward_needs():
    x = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    result, size = saved_bytes(lambda: (x * x).sum())  # mul saves x (twice, one storage)
    assert size == 1000 * 8
    assert result.detach().item() == pytest.approx(float((x * x).sum().detach()))
    _, none = saved_bytes(lambda: (x + 1).sum())  # add saves nothing
    assert none == 0


def test_backprop_memory_grows_with_nfe_and_the_adjoint_matches_its_gradient():
    ffjord_edu.seed_everything(0, threads=1)
    flow = ffjord_edu.CNF(2, hidden=(8,), trace="exact").double()
    x = torch.randn(16, 2, dtype=torch.float64)
    tolerances = [1e-3, 1e-7]
    results = gradient_costs(flow, x, tolerances, repeats=1)
    assert set(results) == {(a, t) for a in (False, True) for t in tolerances}
    loose, tight = results[False, 1e-3], results[False, 1e-7]
    assert tight.nfe_forward > loose.nfe_forward and tight.saved_bytes > loose.saved_bytes
    assert results[True, 1e-7].saved_bytes < 0.1 * tight.saved_bytes
    assert results[True, 1e-7].nfe_backward > 0 and tight.nfe_backward == 0
    assert relative_difference(results, 1e-7) < 1e-4
    fig = plot_gradient_costs(results, tolerances)
    memory, timing, agreement = fig.axes
    assert len(memory.lines) == 2 and len(timing.lines) == 2
    assert list(agreement.lines[0].get_ydata()) == [
        relative_difference(results, t) for t in tolerances
    ]
    plt.close(fig)
