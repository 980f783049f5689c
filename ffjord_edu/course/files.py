"""The course as files: the setup cell every lesson opens with, its links, and ``ffjord-edu
notebooks DIR``, which writes the lessons into any folder.

The setup cell is the same in every notebook (``scripts/sync_notebooks.py`` writes it, a test
compares): where ``ffjord_edu`` imports it does nothing; elsewhere (Colab, Kaggle, a bare
kernel) it installs the package from `ffjord_edu.resources.install_spec`, and on Colab it
turns on the widget manager that third-party widgets need there.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import quote

from ..resources import install_spec, notebooks_root, repository_url

__all__ = [
    "SETUP_MARKER",
    "course_notebooks",
    "links_line",
    "setup_cell_source",
    "write_course",
]

SETUP_MARKER = "# Setup: nothing to do where ffjord_edu is installed"
LINKS_MARKER = "**Run it online:**"


def setup_cell_source() -> str:
    """The first code cell of every notebook."""
    return "\n".join(
        [
            f"{SETUP_MARKER}; on Colab or Kaggle this installs it.",
            "import importlib.util",
            "import subprocess",
            "import sys",
            "",
            'if importlib.util.find_spec("ffjord_edu") is None:',
            f'    package = "{install_spec()}"',
            '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)',
            'if "google.colab" in sys.modules:  # Colab shows ipywidgets only with this switched on',
            "    from google.colab import output",
            "",
            "    output.enable_custom_widget_manager()",
        ]
    )


def links_line(notebook: str) -> str:
    """The "open in Colab / Binder" line under a notebook's title, e.g. for ``05_ffjord_2d.ipynb``.

    Plain links (no badge images), so the offline book asks the network for nothing.
    """
    repository = repository_url()
    owner_and_name = repository.removeprefix("https://github.com/")
    colab = (
        f"https://colab.research.google.com/github/{owner_and_name}/blob/main/notebooks/{notebook}"
    )
    binder = f"https://mybinder.org/v2/gh/{owner_and_name}/HEAD?labpath={quote(f'notebooks/{notebook}', safe='')}"
    return f"{LINKS_MARKER} [Open in Colab]({colab}) · [Launch on Binder]({binder})"


def course_notebooks() -> list[Path]:
    """The lessons in course order (``00_welcome.ipynb`` …), from the wheel or the checkout."""
    return sorted(notebooks_root().glob("[0-9][0-9]_*.ipynb"))


def write_course(out: Path, student: bool = False, overwrite: bool = False) -> list[Path]:
    """Write every lesson into ``out`` (the student edition with ``student``); returns the paths.

    Notebooks read their data through the installed package, so the folder can be anywhere.
    Existing notebooks are kept (a student's work is never overwritten) unless ``overwrite``.
    """
    from .exercises import write_student_editions  # nbformat, only for the student edition

    sources = course_notebooks()
    out = Path(out)
    clashes = [out / path.name for path in sources if (out / path.name).exists()]
    if clashes and not overwrite:
        raise FileExistsError(
            f"{len(clashes)} notebook(s) already in {out} (first: {clashes[0].name}); they may hold "
            "your work. Choose another folder, or pass --force to overwrite them."
        )
    out.mkdir(parents=True, exist_ok=True)
    if student:
        return write_student_editions(sources, out)
    return [Path(shutil.copy2(path, out / path.name)) for path in sources]
