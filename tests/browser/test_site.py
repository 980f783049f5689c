"""The static book (``scripts/build_site.py``): it builds, its pages carry the figures, and
headless Chromium with every network request refused shows them.

By default a small book is built from a notebook written here (a frame player, a plotly
animation, a control that needs the kernel, some LaTeX) in fast mode. ``make site`` sets
``FFJORD_EDU_SITE=build/site`` to run the same checks over every page of the real book.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = os.environ.get("FFJORD_EDU_SITE")

FIXTURE_CELLS = [
    (
        "markdown",
        "# 98 · A page of the book\n\nThe density $p_t(x)$ obeys $\\partial_t p = -\\nabla\\cdot(p f)$.",
    ),
    (
        "code",
        "import ipywidgets as widgets\nimport torch\n"
        "from ffjord_edu.viz import FramePlayer, density_grid, plot_density,"
        " plotly_density_animation, render_frames\n"
        "grids = [density_grid(lambda x, s=s: -0.5 * (x / s).pow(2).sum(1) - 2 * torch.log(torch.tensor(s)),"
        " 3.0, 24) for s in (0.5, 1.0, 1.5)]",
    ),
    (
        "code",
        "frames = render_frames(lambda i, ax: plot_density(grids[i], ax, title=f'frame {i}'), 3,"
        " size=(2, 2), dpi=40)\nFramePlayer(frames, [f't = {i}' for i in range(3)], description='t')",
    ),
    ("code", "plotly_density_animation(grids, ['a', 'b', 'c'])"),
    (
        "code",
        "picture = widgets.Image(value=frames[0], format='png')\n"
        "pick = widgets.IntSlider(0, 0, 2, description='kernel')\n"
        "pick.observe(lambda change: setattr(picture, 'value', frames[change['new']]), 'value')\n"
        "widgets.VBox([pick, picture])",
    ),
]


def load_builder():
    """``scripts/build_site.py`` as a module (registered, so worker processes find it)."""
    if "build_site" not in sys.modules:
        spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts/build_site.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_site"] = module
        spec.loader.exec_module(module)
    return sys.modules["build_site"]


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    """A built book: the real one under ``$FFJORD_EDU_SITE``, else a one-page book built here."""
    if SITE:
        site = Path(SITE)
        if not (site / "manifest.json").exists():
            pytest.fail(f"no book at {site}: run `make site` (it builds, then runs these checks)")
        return site
    folder = tmp_path_factory.mktemp("notebooks")
    notebook = nbformat.v4.new_notebook()
    for kind, source in FIXTURE_CELLS:
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        notebook.cells.append(make(source))
    nbformat.write(notebook, folder / "98_fixture.ipynb")
    out = tmp_path_factory.mktemp("book")
    load_builder().build([folder / "98_fixture.ipynb"], out, fast=True, budget=300, jobs=1)
    return out


def pages_of(book: Path) -> list[dict]:
    return json.loads((book / "manifest.json").read_text())


def test_the_contents_list_every_page_in_course_order(book):
    pages = pages_of(book)
    assert pages, "the manifest lists no pages"
    assert [p["number"] for p in pages] == sorted(p["number"] for p in pages)
    index = (book / "index.html").read_text()
    links = re.findall(r'<a href="([^"]+\.html)"', index)
    assert links == [p["href"] for p in pages]
    for page in pages:
        assert (book / page["href"]).exists(), page["href"]


def test_pages_carry_their_figures_and_widget_state_and_need_no_network(book):
    for page in pages_of(book):
        assert not page["error"], f"{page['notebook']} raised while the book was built"
        text = (book / page["href"]).read_text()
        assert text.count('class="plotly-graph-div"') == page["plots"], page["href"]
        assert ("application/vnd.jupyter.widget-state+json" in text) == (page["widgets"] > 0)
        assert text.count('class="book-note">In this static page') == page["static_notes"]
        remote = re.findall(r'(?:src|href)="(https?://[^"]+)"', text)
        assert not [u for u in remote if re.search(r"\.(js|css)\b", u)], remote
        assert "cdn.jsdelivr.net" not in text and "cdnjs.cloudflare.com" not in text


def test_only_controls_that_need_the_kernel_get_a_note(book):
    if SITE:
        pytest.skip("checked on the one-page book, whose widgets are known")
    (page,) = pages_of(book)
    assert page["widgets"] == 2 and page["plots"] == 1
    assert page["static_notes"] == 1, "the observe()-driven slider needs the kernel; the player not"


# --- in Chromium ---------------------------------------------------------------------------

# Per page: plots drawn, frames each plotly figure carries, rendered widgets, MathJax typeset.
READ_PAGE = """() => ({
  plots: document.querySelectorAll('.js-plotly-plot .main-svg').length > 0
    ? document.querySelectorAll('.js-plotly-plot').length : 0,
  frames: [...document.querySelectorAll('.js-plotly-plot')].map(
    (div) => (div._transitionData && div._transitionData._frames || []).length),
  widgets: document.querySelectorAll('.jp-OutputArea-output.jupyter-widgets .widget-box,'
    + ' .jp-OutputArea-output.jupyter-widgets .jupyter-widgets').length,
  errors: document.querySelectorAll('.jupyter-widgets-error-widget').length
    + [...document.querySelectorAll('.jupyter-widgets')].filter((node) =>
      /Error displaying widget|Error: /.test(node.innerText)).length,
})"""
# Markdown cells whose text still shows $...$ after MathJax ran.
RAW_MATH_LEFT = """[...document.querySelectorAll('.jp-RenderedMarkdown')].filter(
  (node) => /\\$[^$\\s][^$]*\\$/.test(node.innerText)).length"""
# Players: outputs with a slider and an image and no "needs the kernel" note after them; each
# gets a data-player number for the locator that moves its slider.
MARK_PLAYERS = """() => [...document.querySelectorAll('.jp-OutputArea-output.jupyter-widgets')]
  .filter((node) => node.querySelector('.widget-slider .noUi-handle') && node.querySelector('img'))
  .filter((node) => {
    const next = node.closest('.jp-OutputArea-child').nextElementSibling;
    return !(next && next.querySelector('.book-note'));
  })
  .map((node, k) => { node.dataset.player = k; return k; }).length"""
SHOWN = """(k) => [...document.querySelectorAll(`[data-player="${k}"] img`)]
  .filter((img) => img.offsetParent !== null).map((img) => img.src).join(' ')"""
LOCAL = ("file:", "data:", "blob:", "about:")


def is_a_picture(png: bytes) -> bool:
    """Not blank: many grey levels with a real spread."""
    from PIL import Image, ImageStat

    grey = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(grey).stddev[0] > 10 and len(grey.getcolors(256) or []) > 8


@pytest.fixture
def offline_page(chromium):
    """A page whose every request beyond the local file system is refused (and recorded)."""
    refused = []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(LOCAL):
            request_route.continue_()
        else:
            refused.append(url)
            request_route.abort()

    page = chromium.new_page()
    page.route("**/*", route)
    yield page, refused
    page.close()


def test_pages_show_their_figures_offline_in_chromium(book, offline_page, screenshots):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page, refused = offline_page
    for entry in pages_of(book):
        if entry["error"]:
            continue  # a notebook that raised fails the test above, with its error
        page.goto((book / entry["href"]).resolve().as_uri())
        expect = f"({READ_PAGE})().plots === {entry['plots']}"
        if entry["widgets"]:
            expect += " && document.querySelector('.jupyter-widgets .widget-box, .widget-slider')"
        page.wait_for_function(f"() => {expect}", timeout=60_000)
        state = page.evaluate(READ_PAGE)
        assert state["errors"] == 0, f"{entry['href']}: a widget failed to render"
        try:  # MathJax typesets every $...$ of the markdown cells
            page.wait_for_function(RAW_MATH_LEFT + " === 0", timeout=60_000, polling=500)
        except PlaywrightTimeout:
            pytest.fail(f"{entry['href']}: LaTeX left untypeset: {page.evaluate(RAW_MATH_LEFT)}")
        assert all(count > 1 for count in state["frames"] if count), state["frames"]
        shots = page.locator(".js-plotly-plot, .jp-OutputArea-output.jupyter-widgets")
        for k in range(min(shots.count(), 3)):
            shots.nth(k).scroll_into_view_if_needed()
            assert is_a_picture(shots.nth(k).screenshot()), f"{entry['href']}: figure {k} blank"
        for k in range(page.evaluate(MARK_PLAYERS)):
            before = page.evaluate(SHOWN, k)
            page.locator(f'[data-player="{k}"] .noUi-handle').first.click()
            page.keyboard.press("End")
            page.wait_for_function(
                f"([k, before]) => ({SHOWN})(k) !== before", arg=[k, before], timeout=10_000
            )
        page.screenshot(path=screenshots / f"site-{Path(entry['href']).stem}.png")
    assert not refused, f"the pages asked the network for {refused}"


def test_vendored_scripts_are_the_recorded_releases():
    """``book/vendor/*.js`` are byte for byte the npm releases that its README names."""
    vendor = ROOT / "book" / "vendor"
    recorded = dict(
        re.findall(
            r"\| `([\w.-]+\.js)` \|.*\| `([0-9a-f]{64})` \|", (vendor / "README.md").read_text()
        )
    )
    assert set(recorded) == {"require.js", "embed-amd.js"}
    for name, digest in recorded.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name


def test_the_readme_links_every_notebook_to_its_book_page():
    readme = (ROOT / "README.md").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert f"(build/site/{notebook.stem}.html)" in readme, (
            f"README: no book link for {notebook.name}"
        )
