"""Each notebook with widgets or plotly figures, run top to bottom in JupyterLab in Chromium.

What the kernel sent decides what the page must show: every widget-view output must be a
rendered widget (not its text fallback, not "Error displaying widget"), every plotly output an
SVG plot, and every slider that drives an image must change that image when moved. A
screenshot per notebook lands in ``build/browser/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

RUN_TIMEOUT_S = 600  # fast mode on a busy 2-core machine; a run normally takes well under this

# The notebook as the kernel left it and as the page shows it: done?, errors, how many widget
# and plotly outputs arrived, how many of them are rendered, what a broken widget says, and
# whether every cell that builds a FramePlayer shows a slider and a picture.
READ_NOTEBOOK = r"""([widgetMime, plotlyMime]) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const state = {done: true, errors: [], widget: 0, plotly: 0, widgetsShown: 0, plotsShown: 0,
                 problems: [], players: 0, playersShown: 0};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') state.done = false;
  for (const cell of panel.content.widgets) {
    if (cell.model.type !== 'code' || !cell.model.sharedModel.getSource().trim()) continue;
    if (cell.model.executionCount === null) state.done = false;
    if (/FramePlayer\(/.test(cell.model.sharedModel.getSource())) {  // must show a player
      state.players += 1;
      const area = cell.outputArea.node;
      if (area.querySelector('.widget-slider .noUi-handle') && area.querySelector('img')) {
        state.playersShown += 1;
      }
    }
    for (let i = 0; i < cell.model.outputs.length; i++) {
      const output = cell.model.outputs.get(i).toJSON();
      if (output.output_type === 'error') state.errors.push(output.ename + ': ' + output.evalue);
      const data = output.data || {};
      const shown = cell.outputArea.widgets[i] ? cell.outputArea.widgets[i].node : null;
      if (widgetMime in data) {
        state.widget += 1;
        const text = shown ? shown.innerText : '';
        const failed = shown && shown.querySelector('.jupyter-widgets-error-widget');
        if (failed || /Error displaying widget|Loading widget|model not found/.test(text)) {
          state.problems.push(text.trim().slice(0, 200));
        } else if (shown && shown.querySelector('.jupyter-widgets')) {
          state.widgetsShown += 1;
        }
      }
      if (plotlyMime in data) {
        state.plotly += 1;
        if (shown && shown.querySelector('.js-plotly-plot .main-svg')) state.plotsShown += 1;
      }
    }
  }
  return state;
}"""
MIMES = ["application/vnd.jupyter.widget-view+json", "application/vnd.plotly.v1+json"]
# Widget outputs with a slider and an image: the sliders that must change a picture.
WITH_SLIDER = ".jp-OutputArea-output:has(.widget-slider .noUi-handle):has(img)"
# The sources of the images a person sees in the k-th output that has a slider and an image.
SHOWN_IMAGES = """(k) => {
  const outputs = document.querySelectorAll('%s');
  const shown = [...outputs[k].querySelectorAll('img')].filter((img) => img.offsetParent !== null);
  return shown.map((img) => img.src).join(' ');
}""".replace("%s", WITH_SLIDER)


def test_widgets_and_figures_render_in_jupyterlab(notebook_runs, interactive_notebook, screenshots):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    notebook = interactive_notebook
    page = notebook_runs.page_for(notebook)
    try:
        page.wait_for_function(
            f"(m) => {{ const s = ({READ_NOTEBOOK})(m); return s.done || s.errors.length; }}",
            arg=MIMES,
            timeout=RUN_TIMEOUT_S * 1000,
            polling=500,
        )
        state = page.evaluate(READ_NOTEBOOK, MIMES)
        assert not state["errors"], f"{notebook.name} raised: {state['errors']}"
        assert state["widget"] + state["plotly"] > 0, f"{notebook.name} displayed nothing live"
        try:  # widgets and plots render a moment after their output arrives
            page.wait_for_function(
                f"(m) => {{ const s = ({READ_NOTEBOOK})(m);"
                " return s.widgetsShown === s.widget && s.plotsShown === s.plotly"
                " && s.playersShown === s.players; }",
                arg=MIMES,
                timeout=60_000,
                polling=250,
            )
        except PlaywrightTimeout:
            pass  # the asserts below say what is missing
        state = page.evaluate(READ_NOTEBOOK, MIMES)
        assert not state["problems"], f"broken widgets in {notebook.name}: {state['problems']}"
        assert state["widgetsShown"] == state["widget"], (
            f"{state['widgetsShown']} of {state['widget']} widget views rendered"
        )
        assert state["playersShown"] == state["players"], (
            f"{state['playersShown']} of {state['players']} cells that build a FramePlayer show one"
        )
        assert state["plotsShown"] == state["plotly"], (
            f"{state['plotsShown']} of {state['plotly']} plotly figures rendered"
        )
        with_slider = page.locator(WITH_SLIDER)
        for k in range(with_slider.count()):
            before = page.evaluate(SHOWN_IMAGES, k)
            handle = with_slider.nth(k).locator(".noUi-handle").first
            handle.scroll_into_view_if_needed()
            handle.click()
            for _ in range(3):
                handle.press("ArrowRight")
            try:
                page.wait_for_function(
                    f"([k, before]) => ({SHOWN_IMAGES})(k) !== before",
                    arg=[k, before],
                    timeout=30_000,
                    polling=250,
                )
            except PlaywrightTimeout:
                pytest.fail(f"moving slider {k} of {notebook.name} did not change its image")
        screenshot(page, screenshots, notebook.stem)
    finally:
        shut_down_kernel(page)
        page.close()


def shut_down_kernel(page) -> None:
    """Free the kernel's memory before the next notebook (the server would only at the end)."""
    from playwright.sync_api import Error

    try:
        page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    except Error:
        pass  # the server's shutdown at the end of the session stops it anyway


def screenshot(page, folder: Path, stem: str) -> None:
    """The page at the first slider widget (else any widget, else a figure), and that output."""
    for selector in (WITH_SLIDER, ".jp-OutputArea-output:has(.jupyter-widgets)", ".js-plotly-plot"):
        first = page.locator(selector).first
        if first.count():
            break
    first.scroll_into_view_if_needed()
    page.screenshot(path=folder / f"{stem}.png")
    first.screenshot(path=folder / f"{stem}.widget.png")
