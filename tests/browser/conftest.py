"""A real browser for the tests: Debian's Chromium driven by Playwright, and one JupyterLab.

Every test here is skipped, with a one-line reason, when Chromium or Playwright is missing
(``.ci/run`` installs Chromium first, so CI runs them). One JupyterLab server serves the whole
session; it is shut down through its API (then terminated, then killed) whatever happens.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "browser"
CHROMIUM = Path(os.environ.get("FFJORD_EDU_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# A notebook "carries" widgets or plotly figures when its code names them, or names one of the
# library's helpers that return a plotly figure (found by their return annotation).
INTERACTIVE_WORDS = ["ipywidgets", r"widgets\.", "FramePlayer", "interact", "plotly", r"go\.Figure"]
# JupyterLab settings that keep pop-ups off the outputs and every cell in the DOM.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def why_no_browser() -> str | None:
    """The one-line reason the browser tests cannot run here, or ``None`` when they can."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run does this)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


def plotly_helpers() -> list[str]:
    """Names in ``ffjord_edu.viz`` that return a plotly figure, e.g. ``trajectories_3d``."""
    import ffjord_edu.viz as viz

    functions = [(name, getattr(viz, name)) for name in viz.__all__]
    return [
        name
        for name, function in functions
        if callable(function) and "go.Figure" in str(inspect.signature(function).return_annotation)
    ]


def interactive_notebooks() -> list[Path]:
    """The course notebooks whose code shows widgets or plotly figures, in course order."""
    interactive = re.compile(r"\b(" + "|".join(INTERACTIVE_WORDS + plotly_helpers()) + ")")
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return [path for path in notebooks if interactive.search(code_of(path))]


def code_of(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``interactive_notebook``: one test per notebook found by `interactive_notebooks`."""
    if "interactive_notebook" in metafunc.fixturenames:
        notebooks = interactive_notebooks()
        metafunc.parametrize("interactive_notebook", notebooks, ids=[p.stem for p in notebooks])


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """``build/browser/``, where the tests leave their screenshots."""
    BUILD.mkdir(parents=True, exist_ok=True)
    return BUILD


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> Iterator:
    """A headless Chromium context (Playwright, persistent profile in a temp dir)."""
    reason = why_no_browser()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class Lab:
    """A running JupyterLab: where it listens, its token, and the folder it serves."""

    url: str
    token: str
    root: Path

    def api(self, path: str, method: str = "GET") -> int:
        request = urllib.request.Request(f"{self.url}{path}?token={self.token}", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")


@pytest.fixture(scope="session")
def lab(chromium, tmp_path_factory) -> Iterator[Lab]:
    """One JupyterLab on 127.0.0.1 (free port, random token) serving copies of the notebooks.

    Copies in ``build/browser/lab/notebooks/``, because JupyterLab autosaves what it runs; the
    rest of the checkout is linked beside them, so ``../data/...`` reads what it reads in
    ``notebooks/``. The kernels run in fast mode and draw matplotlib figures inline as a
    student's do (`make test`'s ``MPLBACKEND=Agg`` is dropped).
    """
    root = BUILD / "lab"
    shutil.rmtree(root, ignore_errors=True)
    (root / "notebooks").mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in ("notebooks", "build", ".git"):
            (root / entry.name).symlink_to(entry)
    for notebook in interactive_notebooks():
        shutil.copy(notebook, root / "notebooks" / notebook.name)
    settings = tmp_path_factory.mktemp("lab-settings")
    for name, value in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    port, token = free_port(), secrets.token_hex(16)
    environment = {
        **{k: v for k, v in os.environ.items() if k != "MPLBACKEND"},  # kernels draw inline
        "FFJORD_EDU_FAST": "1",
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path_factory.mktemp("lab-workspaces")),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.token={token}",
        "--ServerApp.port_retries=0",
        "--allow-root",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
    ]
    log = (BUILD / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    running = Lab(f"http://127.0.0.1:{port}", token, root)
    try:
        wait_for(lambda: server.poll() is not None or answers(running), 120, "JupyterLab start")
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode}; see {log.name}")
        yield running
    finally:
        shut_down(server, running)
        log.close()


def answers(lab: Lab) -> bool:
    try:
        return lab.api("/api/status") == 200
    except OSError:
        return False


def shut_down(server: subprocess.Popen, lab: Lab) -> None:
    """Ask the server to stop (it stops its kernels too); terminate, then kill, if it lingers."""
    if server.poll() is None:
        try:
            lab.api("/api/shutdown", method="POST")
        except OSError:
            pass
    for stop in (None, server.terminate, server.kill):
        if stop is not None and server.poll() is None:
            stop()
        try:
            server.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


class NotebookRuns:
    """Notebooks opened in JupyterLab and set running, one ahead of the test that checks them.

    While a test checks notebook i, notebook i + 1 already runs in its own page and kernel, so
    two cores are both busy. Pages left over are closed at the end.
    """

    def __init__(self, chromium, lab: Lab, order: list[Path]) -> None:
        self.chromium, self.lab, self.order = chromium, lab, order
        self.started: dict[Path, object] = {}

    def page_for(self, notebook: Path):
        """The page of ``notebook`` with its run-all sent; starts the next notebook too."""
        page = self.started.pop(notebook, None) or self.start(notebook)
        later = self.order[self.order.index(notebook) + 1 :] if notebook in self.order else []
        if later and later[0] not in self.started:
            self.started[later[0]] = self.start(later[0])
        return page

    def start(self, notebook: Path):
        page = self.chromium.new_page()
        page.goto(f"{self.lab.url}/lab/tree/notebooks/{notebook.name}?reset&token={self.lab.token}")
        # The status bar's "Idle" (not the toolbar's) means the kernel is ready for run-all.
        page.wait_for_function(
            "() => (document.querySelector('#jp-main-statusbar') || {textContent: ''})"
            ".textContent.includes('Idle')",
            timeout=120_000,
        )
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # room for the notebook
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        page.wait_for_timeout(2000)  # let run-all queue every cell before anyone reads the state
        return page

    def close(self) -> None:
        for page in self.started.values():
            page.close()


@pytest.fixture(scope="session")
def notebook_runs(chromium, lab, request) -> Iterator[NotebookRuns]:
    """Runs of the selected notebooks (after ``-k``), in the order the tests will check them."""
    order = [
        item.callspec.params["interactive_notebook"]
        for item in request.session.items
        if "interactive_notebook" in getattr(getattr(item, "callspec", None), "params", {})
    ]
    runs = NotebookRuns(chromium, lab, order)
    try:
        yield runs
    finally:
        runs.close()
