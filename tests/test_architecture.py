"""The package's layers: imports run one way, and no module reaches into another's privates.

    paper (solvers, trace, nets, cnf, regularization, settings, solver_reports) → models
    → datasets → training → loading → course, viz and the command line

A module may import its own layer and the layers before it, never a later one; the paper's
files import nothing outside the standard library, torch and torchdiffeq. Checked on the
source with `ast`, so a violation is caught before anything runs.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ffjord_edu"

PAPER = (
    "solvers",
    "solver_reports",
    "trace",
    "nets",
    "cnf",
    "regularization",
    "settings",
    "options",
)
LAYERS = ("paper", "models", "datasets", "training", "loading", "course, viz and CLI")
PAPER_MAY_IMPORT = {"torch", "torchdiffeq"}
# solvers + trace + nets + cnf: "about 1,100" (issue #18); 1,283 before this layout moved the
# options, the batch checks and the NFE bookkeeping out of them
PAPER_LINE_BUDGET = 1_150


def layer_of(module: str) -> int:
    """The index in `LAYERS` of a module of the package, e.g. ``ffjord_edu.models.vae`` → 1."""
    parts = module.split(".")[1:]
    top = parts[0] if parts else "__init__"
    if top in PAPER:
        return 0
    if top in ("models", "datasets", "training"):
        return LAYERS.index(top)
    if top in ("loading", "resources"):
        return 4
    if top in ("course", "viz", "__main__", "__init__"):
        return 5
    raise AssertionError(f"{module} belongs to no layer: add it to tests/test_architecture.py")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(module: str, source: str, is_package: bool) -> list[tuple[str, list[str], int]]:
    """Every ``(imported module, names, line)`` of ``source``, relative imports resolved."""
    found = []
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = [alias.name for alias in node.names]
            if node.module is None:  # `from . import distributed`: each name is a module
                found += [(f"{target}.{name}", [], node.lineno) for name in names]
            else:
                found.append((target, names, node.lineno))
    return found


def violations(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """What breaks the layering in ``{module: (source, is_package)}``."""
    problems = []
    for module, (source, is_package) in sorted(sources.items()):
        layer = layer_of(module)
        for target, names, line in imports(module, source, is_package):
            where = f"{module} (line {line})"
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if target.startswith("ffjord_edu"):
                if private:
                    problems.append(f"{where} imports the private {private} of {target}")
                if target != "ffjord_edu" and layer_of(target) > layer:
                    problems.append(
                        f"{where} imports {target}: layer '{LAYERS[layer]}' may not import "
                        f"the later layer '{LAYERS[layer_of(target)]}'"
                    )
            elif layer == 0:
                library = target.split(".")[0]
                if library not in PAPER_MAY_IMPORT and library not in sys.stdlib_module_names:
                    problems.append(f"{where}: the paper's files import only torch, not {target}")
    return problems


def package_sources() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in PACKAGE.rglob("*.py")
    }


def test_imports_run_one_way_and_leave_privates_alone():
    assert violations(package_sources()) == []


@pytest.mark.parametrize(
    ("module", "source", "problem"),
    [
        (
            "ffjord_edu.models.vae",
            "from ..training import train\n",
            "layer 'models' may not import the later layer 'training'",
        ),
        (
            "ffjord_edu.cnf",
            "from .datasets import toy\n",
            "layer 'paper' may not import the later layer 'datasets'",
        ),
        ("ffjord_edu.cnf", "import numpy as np\n", "import only torch, not numpy"),
        (
            "ffjord_edu.training.tasks",
            "from .loop import _summary\n",
            "imports the private ['_summary'] of ffjord_edu.training.loop",
        ),
        (
            "ffjord_edu.training.loop",
            "from .. import loading\n",
            "layer 'training' may not import the later layer 'loading'",
        ),
    ],
)
def test_a_planted_violation_is_caught(module, source, problem):
    sources = package_sources()
    original, is_package = sources[module]
    sources[module] = (original + source, is_package)
    found = violations(sources)
    assert len(found) == 1 and problem in found[0], found


def test_the_paper_reads_in_one_sitting():
    """solvers, trace, nets and cnf: the paper's method, and nothing else, in few lines."""
    lines = sum(
        len((PACKAGE / f"{name}.py").read_text(encoding="utf-8").splitlines())
        for name in ("solvers", "trace", "nets", "cnf")
    )
    assert lines <= PAPER_LINE_BUDGET, f"the paper's four files have {lines} lines"


def test_the_paper_holds_no_io_paths_seeds_or_processes():
    for name in PAPER:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        forbidden = {
            c for c in calls if c in ("open", "torch.save", "torch.load", "torch.manual_seed")
        }
        assert not forbidden, f"{name}.py calls {forbidden}"
        modules = {
            alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
        }
        modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not modules & {"os", "pathlib", "random", "torch.distributed", "json", "pickle"}, (
            f"{name}.py imports {modules & {'os', 'pathlib', 'random', 'torch.distributed'}}"
        )
