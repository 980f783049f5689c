"""Where the course's files are: the shipped data and notebooks, in a checkout or an installed wheel.

Everything the notebooks read (pretrained models, recorded benchmark tables) lives in the
project's top-level ``data/``. A wheel carries that folder inside the package as
``ffjord_edu/data`` (and the lessons as ``ffjord_edu/notebooks``), read with `importlib.resources`;
a source checkout (a clone, or ``pip install -e``) reads its own ``data/``. ``$FFJORD_EDU_DATA``
overrides both. Code and notebooks reach every file through `data_path`, never through a path
relative to the working folder, so a notebook runs from any folder.
"""

from __future__ import annotations

import os
from importlib import metadata, resources
from pathlib import Path

__all__ = [
    "course_source",
    "data_path",
    "data_root",
    "install_spec",
    "notebooks_root",
    "repository_url",
    "scripts_folder",
]

DISTRIBUTION = "ffjord-edu"
# A source checkout: the package folder sits beside pyproject.toml and the top-level folders.
CHECKOUT = Path(__file__).resolve().parents[1]


def _bundled(folder: str) -> Path | None:
    """``ffjord_edu/<folder>`` inside an installed wheel, or None where the package has none."""
    path = Path(str(resources.files("ffjord_edu").joinpath(folder)))
    return path if path.is_dir() else None


def _checkout(folder: str) -> Path | None:
    """``<folder>`` of the source checkout this package runs from, or None."""
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / folder).is_dir():
        return CHECKOUT / folder
    return None


def scripts_folder() -> Path | None:
    """The checkout's ``scripts/`` (which remake the shipped files), or None in an install."""
    return _checkout("scripts")


def course_source() -> str:
    """Which copy of the course files this is, in words (named in every missing-file error)."""
    if os.environ.get("FFJORD_EDU_DATA"):
        return f"the folder FFJORD_EDU_DATA={os.environ['FFJORD_EDU_DATA']}"
    if _bundled("data") is not None:
        return f"the installed package at {Path(str(resources.files('ffjord_edu')))}"
    return f"the source checkout at {CHECKOUT}"


def data_root() -> Path:
    """The folder holding the course data: ``$FFJORD_EDU_DATA``, the wheel's, or the checkout's."""
    if os.environ.get("FFJORD_EDU_DATA"):
        return Path(os.environ["FFJORD_EDU_DATA"])
    root = _bundled("data") or _checkout("data")
    if root is None:
        raise FileNotFoundError(
            f"this copy of ffjord_edu ({Path(__file__).resolve().parent}) has no course data: "
            f'reinstall it with `pip install --force-reinstall "{install_spec()}"`, or point '
            "FFJORD_EDU_DATA at a copy of the repository's data/ folder"
        )
    return root


def notebooks_root() -> Path:
    """The folder holding the numbered lessons (``*.ipynb``), in the wheel or the checkout."""
    root = _bundled("notebooks") or _checkout("notebooks")
    if root is None:
        raise FileNotFoundError(
            f"this copy of ffjord_edu ({Path(__file__).resolve().parent}) carries no notebooks: "
            f'reinstall it with `pip install --force-reinstall "{install_spec()}"`'
        )
    return root


def data_path(relative: str) -> Path:
    """The course file ``relative`` (like ``"pretrained/toy/8gaussians.pt"``), checked to exist.

    A missing file raises `FileNotFoundError` saying which copy of the course was searched and
    how to get the file back.

    Example:
        >>> data_path("tabular/baselines.json").name
        'baselines.json'
    """
    path = data_root() / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"no course file '{relative}' in {course_source()}. {_how_to_get()}"
        )
    return path


def _how_to_get() -> str:
    if os.environ.get("FFJORD_EDU_DATA"):
        return (
            "Unset FFJORD_EDU_DATA to use the files that ship with the package, or copy it there."
        )
    if _bundled("data") is not None:
        return (
            f'Reinstall the package (pip install --force-reinstall "{install_spec()}"); the '
            f"scripts that remake the files are in the repository, {repository_url()}."
        )
    return "Restore it with `git checkout -- data/`, or remake it as data/README.md says."


def repository_url() -> str:
    """The project's repository, as ``[project.urls] Repository`` in pyproject.toml declares it."""
    for entry in metadata.metadata(DISTRIBUTION).get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip()
    raise LookupError("pyproject.toml declares no [project.urls] Repository")


def install_spec() -> str:
    """What ``pip install`` needs to get this course anywhere (Colab, Kaggle, a fresh venv)."""
    return f"{DISTRIBUTION} @ git+{repository_url()}"
