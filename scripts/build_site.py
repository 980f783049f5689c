"""Build the course as a static HTML book that works offline: ``build/site/index.html``.

Every notebook found by ``notebooks/[0-9][0-9]_*.ipynb`` is executed (in full mode, falling back
to fast mode when one cell would take longer than ``--budget`` seconds, or when the notebook's
metadata says ``"ffjord_edu": {"book": {"fast": true}}``), saved with its widget state, and
rendered by nbconvert's lab template with everything served from ``_static/``: require.js and
the ipywidgets HTML manager (``book/vendor/``), plotly.js (from the plotly package) and MathJax
(from jupyter-server-mathjax). So in a ``file://`` page with no network:

* plotly figures render, and their sliders and play buttons animate (all in the browser);
* widgets render from the saved state, and controls ``jslink``-ed to what they show still work:
  a ``FramePlayer`` scrubs through all its precomputed frames;
* a control that only acts through a Python callback keeps its first picture, and the page says
  so right under it.

    python scripts/build_site.py                     # every notebook, two at a time
    python scripts/build_site.py --fast notebooks/03_*.ipynb --out /tmp/book
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import nbformat
from jinja2 import Environment

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY = "application/vnd.plotly.v1+json"
# Deterministic, single-threaded runs like `make test`; progress bars off (noise on a page).
ENVIRONMENT = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "PYTHONHASHSEED": "0",
    "TQDM_DISABLE": "1",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}
# Widgets a person operates; one that no jslink ties to anything needs the kernel to act.
CONTROL = re.compile(r"(Slider|ToggleButtons|Dropdown|RadioButtons|Checkbox|Select|Play|Text)")
STATIC_NOTE = (
    '<div class="book-note">In this static page this control shows its first state only: '
    "it recomputes in Python. Open the notebook in JupyterLab (<code>make lab</code>) to use it."
    "</div>"
)


@dataclass
class Page:
    """One rendered notebook, as the table of contents and the tests see it."""

    number: str
    title: str
    href: str
    notebook: str
    fast: bool
    seconds: float
    widgets: int
    plots: int
    static_notes: int
    error: str


def title_of(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The first markdown heading (without its number prefix), else ``fallback``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
            if match:
                return re.sub(r"^\d+\s*[·.:—-]\s*", "", match.group(1).strip())
    return fallback


def wants_fast(notebook: nbformat.NotebookNode) -> bool:
    return bool(notebook.metadata.get("ffjord_edu", {}).get("book", {}).get("fast", False))


def execute(path: Path, fast: bool, timeout: float) -> tuple[nbformat.NotebookNode, str]:
    """Run every cell in a fresh kernel (cwd: the notebook's folder), keeping widget state.

    Returns the notebook as far as it ran and, if a cell raised, the error's last line.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.environ.update(ENVIRONMENT, FFJORD_EDU_FAST="1" if fast else "0")
    os.environ.pop("MPLBACKEND", None)  # `make test` sets Agg; the page needs inline figures
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=int(timeout),
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as error:
        client.set_widgets_metadata()  # the widgets shown before the error still render
        return notebook, re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()[-1]
    return notebook, ""


def run(path: Path, fast: bool, budget: float) -> tuple[nbformat.NotebookNode, str, bool, float]:
    """Execute ``path`` in full mode within ``budget`` seconds per cell, else in fast mode.

    Returns the executed notebook, its error (empty when none), whether fast mode ran, seconds.
    """
    from nbclient.exceptions import CellTimeoutError

    start = time.monotonic()
    fast = fast or wants_fast(nbformat.read(path, as_version=4))
    if not fast:
        try:
            return *execute(path, fast=False, timeout=budget), False, time.monotonic() - start
        except CellTimeoutError:
            print(f"{path.name}: a cell ran past {budget:.0f} s in full mode; using fast mode")
    return *execute(path, fast=True, timeout=budget), True, time.monotonic() - start


def linked_models(state: dict) -> set[str]:
    """Ids of the widget models tied to another by a ``jslink`` (a browser-side link)."""
    linked = set()
    for model in state.values():
        if model["model_name"] in ("LinkModel", "DirectionalLinkModel"):
            for end in ("source", "target"):
                linked.add(model["state"][end][0].removeprefix("IPY_MODEL_"))
    return linked


def needs_kernel(model_id: str, state: dict, linked: set[str]) -> bool:
    """Whether the widget tree at ``model_id`` holds a control that no jslink ties to anything."""
    model = state.get(model_id)
    if model is None:
        return False
    if CONTROL.search(model["model_name"]) and model_id not in linked:
        return True
    children = model["state"].get("children", [])
    return any(needs_kernel(c.removeprefix("IPY_MODEL_"), state, linked) for c in children)


def prepare(notebook: nbformat.NotebookNode, stem: str) -> tuple[int, int, int]:
    """Rewrite outputs for a static page; returns (widget views, plotly figures, notes added).

    Plotly's JSON becomes a div drawn by the page's plotly.js; a widget that needs the kernel
    gets a note under it.
    """
    import plotly.io

    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    linked = linked_models(state)
    widgets = plots = notes = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            outputs.append(output)
            data = output.get("data", {})
            if PLOTLY in data:
                figure = plotly.io.from_json(json.dumps(data[PLOTLY]), skip_invalid=True)
                div = plotly.io.to_html(
                    figure, include_plotlyjs=False, full_html=False, div_id=f"{stem}-plot-{plots}"
                )
                output["data"] = {"text/html": div}
                plots += 1
            if WIDGET_VIEW in data:
                widgets += 1
                if needs_kernel(data[WIDGET_VIEW]["model_id"], state, linked):
                    outputs.append(
                        nbformat.v4.new_output("display_data", data={"text/html": STATIC_NOTE})
                    )
                    notes += 1
        cell.outputs = outputs
    return widgets, plots, notes


def render(notebook: nbformat.NotebookNode, book: dict) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="ffjord",
        extra_template_basedirs=[str(BOOK / "templates")],
        require_js_url="_static/require.js",
        widget_renderer_url="_static/embed-amd.js",
        mathjax_url="_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe",
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"book": book})
    return body


def build_page(path: Path, out: Path, fast: bool, budget: float) -> Page:
    """Execute one notebook and store it, prepared for a static page, in ``out/_executed``."""
    notebook, error, fast, seconds = run(path, fast, budget)
    widgets, plots, notes = prepare(notebook, path.stem)
    nbformat.write(notebook, out / "_executed" / path.name)
    number = path.stem.split("_", 1)[0]
    page = Page(
        number=number,
        title=title_of(notebook, path.stem),
        href=f"{path.stem}.html",
        notebook=path.name,
        fast=fast,
        seconds=round(seconds, 1),
        widgets=widgets,
        plots=plots,
        static_notes=notes,
        error=error,
    )
    outcome = f"FAILED: {error}" if error else "ok"
    print(f"{path.name}: {'fast' if fast else 'full'} mode, {seconds:.0f} s, {outcome}", flush=True)
    return page


def copy_static(out: Path) -> None:
    """require.js, the widget manager, plotly.js, MathJax and the book's stylesheet."""
    import jupyter_server_mathjax
    import plotly

    static = out / "_static"
    static.mkdir(parents=True, exist_ok=True)
    for name in ("require.js", "embed-amd.js"):
        shutil.copy(BOOK / "vendor" / name, static / name)
    shutil.copy(BOOK / "book.css", static / "book.css")
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", static)
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    shutil.copytree(mathjax, static / "mathjax", dirs_exist_ok=True)


def write_index(pages: list[Page], out: Path) -> None:
    template = Environment(autoescape=True).from_string((BOOK / "index.html.j2").read_text())
    (out / "index.html").write_text(template.render(pages=pages))
    (out / "manifest.json").write_text(json.dumps([asdict(p) for p in pages], indent=1) + "\n")


def build(notebooks: list[Path], out: Path, fast: bool, budget: float, jobs: int) -> list[Page]:
    """Execute and render ``notebooks`` (course order) into ``out``; returns the pages."""
    notebooks = sorted(notebooks, key=lambda p: p.name)
    shutil.rmtree(out, ignore_errors=True)
    (out / "_executed").mkdir(parents=True)
    copy_static(out)
    one = partial(build_page, out=out, fast=fast, budget=budget)
    if jobs > 1:  # kernels are separate processes; so are the notebooks' conversions
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            pages = list(pool.map(one, notebooks))
    else:
        pages = [one(path) for path in notebooks]
    for i, page in enumerate(pages):
        notebook = nbformat.read(out / "_executed" / page.notebook, as_version=4)
        book = {
            "static": "_static",
            "fast": page.fast,
            "error": page.error,
            "plotly": page.plots > 0,
            "previous": asdict(pages[i - 1]) if i > 0 else None,
            "next": asdict(pages[i + 1]) if i + 1 < len(pages) else None,
        }
        (out / page.href).write_text(render(notebook, book))
    write_index(pages, out)
    return pages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every course notebook")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--fast", action="store_true", help="fast mode for every notebook")
    parser.add_argument("--budget", type=float, default=900, help="seconds per cell in full mode")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once")
    arguments = parser.parse_args(argv)
    notebooks = arguments.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        sys.exit("no notebooks found: run from a checkout with notebooks/NN_name.ipynb")
    start = time.monotonic()
    pages = build(notebooks, arguments.out, arguments.fast, arguments.budget, arguments.jobs)
    minutes = (time.monotonic() - start) / 60
    print(f"{len(pages)} pages in {minutes:.1f} min: {arguments.out / 'index.html'}")
    failed = [page.notebook for page in pages if page.error]
    if failed:
        sys.exit(f"these notebooks raised (their pages show where): {', '.join(failed)}")


if __name__ == "__main__":
    main()
