"""Notebook 11's playground used as a student uses it: type a word, press Train, press Stop.

The notebook runs top to bottom in JupyterLab first (fast mode); then the test types a word into
the playground's text box, trains a few steps through the Train button, stops, and checks that
the live view reported those steps and that the player and the plotly figure are on the page.
"""

from __future__ import annotations

from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "11_your_own_density.ipynb"
WORD = "CNF"

# Every code cell has run and the kernel is idle (the training thread has not started yet).
ALL_RUN = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  return panel.content.widgets.every((cell) => cell.model.type !== 'code'
    || !cell.model.sharedModel.getSource().trim() || cell.model.executionCount !== null);
}"""
ERRORS = """() => window.jupyterapp.shell.currentWidget.content.widgets.flatMap((cell) =>
  cell.model.type !== 'code' ? [] : [...Array(cell.model.outputs.length).keys()]
    .map((i) => cell.model.outputs.get(i).toJSON())
    .filter((o) => o.output_type === 'error').map((o) => o.ename + ': ' + o.evalue))"""


def test_type_a_word_train_and_stop(notebook_runs):
    page = notebook_runs.page_for(NOTEBOOK)
    try:
        page.wait_for_function(ALL_RUN, timeout=600_000, polling=500)
        assert not page.evaluate(ERRORS), page.evaluate(ERRORS)

        word = page.locator(".widget-text input").first  # the playground's only text box
        word.scroll_into_view_if_needed()
        word.fill(WORD)
        word.press("Enter")  # the box sends its value on Enter (continuous_update=False)
        status = page.locator(".widget-label", has_text=f"picture: {WORD}")
        status.wait_for(timeout=60_000)

        page.locator("button.widget-button", has_text="Train").first.click()
        page.locator(".widget-label", has_text=f"{WORD}: step").wait_for(timeout=120_000)
        page.locator("button.widget-button", has_text="Stop").first.click()
        page.locator("button.widget-button", has_text="Train").first.wait_for(timeout=60_000)
        assert "⚠" not in page.locator(".widget-label", has_text=WORD).first.inner_text()

        assert page.locator(".widget-slider .noUi-handle").count() >= 1  # the player
        assert page.locator(".js-plotly-plot .main-svg").count() >= 1  # the 3-D paths
        assert not page.evaluate(ERRORS), page.evaluate(ERRORS)
    finally:
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        page.close()
