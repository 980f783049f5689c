"""Reading pickled data files without running the code a pickle can carry.

A pickle is a small program: it names Python callables (``module.name``) and calls them while
it loads, so ``pickle.load`` on a crafted file runs anything (``os.system`` included). The
CIFAR-10 batches and the GAS DataFrame of the MAF release are pickles, so they are read here by
an unpickler that resolves only an allow-list of names: numpy's array rebuilders, pandas'
DataFrame/Index/BlockManager rebuilders and a few inert builtins. Anything else is refused
*before* it is imported or called, with `UnsafePickleError`, which names the file and the
refused ``module.name``.

Example:
    >>> import io, os, pickle
    >>> try:
    ...     restricted_load(io.BytesIO(pickle.dumps(os.getcwd)), "numpy", "a test file")
    ... except UnsafePickleError as error:
    ...     print("refused, nothing ran:", "nothing in the file was run" in str(error))
    refused, nothing ran: True
"""

from __future__ import annotations

import importlib
import pickle
from typing import IO, Any

__all__ = ["UnsafePickleError", "restricted_load"]

# Python 2 spellings of modules, which pickles written by Python 2 still name.
_PYTHON2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

_SAFE_BUILTINS = frozenset(
    {"object", "slice", "list", "dict", "tuple", "set", "frozenset", "int", "float"}
    | {"complex", "bool", "str", "bytes"}
)

# What numpy arrays pickle to: rebuild functions and the two classes they take.
_NUMPY_NAMES = frozenset({"ndarray", "dtype", "_reconstruct", "scalar", "_frombuffer"})

# What a pandas DataFrame pickles to (pandas 0.x to 3.x): the frame, its block manager, the
# blocks and the index classes with their rebuild functions.
_PANDAS_NAMES = frozenset(
    {"DataFrame", "Series", "BlockManager", "SingleBlockManager", "_unpickle_block"}
    | {"new_block", "_new_Index", "Index", "RangeIndex", "Int64Index", "UInt64Index"}
    | {"Float64Index", "MultiIndex", "CategoricalIndex", "DatetimeIndex", "_new_DatetimeIndex"}
)

# Which names each kind of file may ask for, by top-level module.
ALLOWED: dict[str, dict[str, frozenset[str]]] = {
    "numpy": {
        "numpy": _NUMPY_NAMES,
        "builtins": _SAFE_BUILTINS,
        "copyreg": frozenset({"_reconstructor"}),
        "_codecs": frozenset({"encode"}),
    },
}
ALLOWED["pandas"] = {**ALLOWED["numpy"], "pandas": _PANDAS_NAMES}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickled data file asked for a callable outside the allow-list; nothing was run."""


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names of one `ALLOWED` entry (latin-1 or bytes)."""

    def __init__(self, file: IO[bytes], kind: str, source: str, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self.allowed, self.source = ALLOWED[kind], source

    def find_class(self, module: str, name: str) -> Any:
        top = module.split(".")[0]
        top = _PYTHON2_MODULES.get(top, top)
        if name not in self.allowed.get(top, ()):
            raise UnsafePickleError(
                f"{self.source} asks to load {module}.{name}, which a data file never needs: "
                "it was refused and nothing in the file was run. The file is damaged or was "
                "crafted to run code; replace it with the original download"
            )
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            return _moved(module, name, self.source)


def _moved(module: str, name: str, source: str) -> Any:
    """Today's object for a name that pandas < 1.0 or numpy < 2 kept elsewhere."""
    top = module.split(".")[0]
    if top == "numpy":
        for place in ("numpy._core.multiarray", "numpy._core.numeric", "numpy"):
            found = getattr(importlib.import_module(place), name, None)
            if found is not None:
                return found
    if top == "pandas":
        pandas = importlib.import_module("pandas")
        moved = {"_new_Index": pandas.Index([]).__reduce__()[0], "RangeIndex": pandas.RangeIndex}
        moved |= dict.fromkeys(("Index", "Int64Index", "UInt64Index", "Float64Index"), pandas.Index)
        moved["BlockManager"] = importlib.import_module("pandas.core.internals").BlockManager
        if name in moved:
            return moved[name]
    raise UnsafePickleError(f"{source} names {module}.{name}, which this numpy/pandas lacks")


def restricted_load(file: IO[bytes], kind: str, source: str, encoding: str = "latin1") -> Any:
    """Unpickle ``file`` resolving only the names `ALLOWED` for ``kind`` (``"numpy"`` or
    ``"pandas"``); ``source`` (the path) names the file in every error.

    Raises:
        UnsafePickleError: the file asked for anything else (nothing was imported or run).
    """
    return _RestrictedUnpickler(file, kind, source, encoding).load()
