"""Checkpoints: atomic, checksummed writes; validated reads; `load` for a trained flow; the
run-folder lock and the checks a run makes before it starts.

What is guaranteed (``docs/reliability.md`` lists how each is tested):

- a write is atomic (temporary file, ``fsync``, rename): a crash leaves the old file or the new
  one; temporary files a killed run left behind are removed by the next run into the folder;
- a checkpoint carries a SHA-256 checksum of its contents, checked on read (files without one,
  written before checksums existed, are still read);
- a checkpoint is read with ``torch.load(weights_only=True)``: a file that asks to run code is
  refused and named as such, and nothing in it runs;
- the model a checkpoint's config describes is built on PyTorch's ``meta`` device first (no
  memory) and must match the weights in the file, so a crafted config cannot ask for 160 GB;
- one run at a time per folder (`RunLock`); a lock left by a dead process is recognised.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import pickle
import shutil
import socket
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "FORMAT",
    "DamagedCheckpoint",
    "RunFolderBusy",
    "RunLock",
    "check_writable",
    "checksum",
    "read_checkpoint",
    "remove_stale_temporaries",
    "write_atomically",
    "write_checkpoint",
]

FORMAT = "ffjord-edu-checkpoint"
VERSION = 1
_TEMPORARY_SUFFIX = ".tmp"


def write_atomically(path: str | Path, write: Any) -> None:
    """Call ``write(file_path)`` on a temporary file beside ``path``, then rename it into place.

    The rename is atomic, and the data is flushed to the disk (``fsync``) before it, so a crash
    or Ctrl-C mid-write leaves the previous file intact: a reader sees the old complete file or
    the new complete one, never half of one. A full disk, a read-only or an unwritable folder
    raise an `OSError` that says so in plain words (the previous file is still intact).
    """
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=_TEMPORARY_SUFFIX
        )
        os.close(handle)
        write(temporary)
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; use the usual mode
        os.replace(temporary, path)
    except BaseException as error:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _plain_os_error(error, path) from error
        raise


def _plain_os_error(error: OSError, path: Path) -> OSError:
    """The same error, in words that say what happened and what to do."""
    kept = "any previous file there is intact"
    reasons = {
        errno.ENOSPC: f"no space left on the device to write {path} ({kept}): free some space, "
        "then run again (with --resume to continue a training run)",
        errno.EDQUOT: f"the disk quota is used up, so {path} cannot be written ({kept})",
        errno.EROFS: f"{path.parent} is on a read-only file system: choose another folder",
        errno.EACCES: f"no permission to write in {path.parent}: choose a folder you own",
        errno.EPERM: f"no permission to write in {path.parent}: choose a folder you own",
    }
    message = reasons.get(error.errno, f"could not write {path} ({kept}): {error}")  # type: ignore[arg-type]
    return OSError(error.errno, message) if error.errno else OSError(message)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files (``.NAME.*.tmp``) that a run killed mid-write left in
    ``folder``; returns them. Call it only while holding the folder's `RunLock`."""
    removed = []
    for candidate in Path(folder).glob(f".*{_TEMPORARY_SUFFIX}"):
        if candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def checksum(payload: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's contents (every tensor's bytes, dtype and shape, every
    number and string), without its ``"checksum"`` entry; independent of how it was pickled."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in payload.items() if k != "checksum"})
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(f"L{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:  # numbers, strings, None, and what weights_only reads besides (torch.dtype, ...)
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (model config and state, optimiser, progress) atomically, with its
    `checksum`. The bytes are made in memory first, so a full disk is reported as such."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    payload["checksum"] = checksum(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomically(path, lambda file: Path(file).write_bytes(buffer.getbuffer()))


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `write_checkpoint`, with a clear error for anything else:
    a truncated or damaged file, a foreign one, one that asks to run code (refused by
    ``weights_only=True``; nothing runs), or one whose checksum does not match (a changed bit).
    A file without a checksum (written before they existed, like the shipped models) is read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise ValueError(
                f"{path} asks to run code or to build Python objects that a checkpoint never "
                "holds; it was refused and nothing in it ran. Do not use it: it was crafted or "
                "comes from another program. Use a checkpoint written by ffjord-edu"
            ) from error
        raise _damaged(path, error) from error
    except Exception as error:  # torch.load fails in many ways on a damaged file
        raise _damaged(path, error) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an ffjord-edu checkpoint (it has no '{FORMAT}' marker); "
            "pass a file written by ffjord_edu training or `python -m ffjord_edu train`"
        )
    if payload.get("version") != VERSION:
        raise ValueError(
            f"{path} is checkpoint version {payload.get('version')}, this ffjord-edu reads "
            f"version {VERSION}; retrain with this version"
        )
    if "checksum" in payload and payload["checksum"] != checksum(payload):
        raise ValueError(
            f"{path} fails its checksum: its contents changed after it was written (one "
            "flipped bit is enough, from a bad disk, a copy or an edit); restore it from a "
            "copy or retrain"
        )
    return payload


class DamagedCheckpoint(RuntimeError):
    """A checkpoint file that cannot be read: truncated, or damaged inside its archive."""


def _damaged(path: Path, error: BaseException) -> DamagedCheckpoint:
    return DamagedCheckpoint(
        f"{path} is truncated or damaged and cannot be read ({type(error).__name__}); "
        "delete it and retrain, or restore it from a copy"
    )


# Bounds on a checkpoint's config, checked before anything is built from it.
_MAX_INTEGER = 10_000_000  # no width, dimension or count in a real config comes near
_MAX_LIST = 100  # hidden layers
_MAX_COUNT = 100  # blocks, scales, flow steps


def build_checked(
    factory: Callable[[dict[str, Any]], torch.nn.Module],
    config: Any,
    state: dict[str, torch.Tensor],
    path: str | Path,
) -> torch.nn.Module:
    """``factory(config)`` with ``state`` loaded, after making sure the config is bounded and
    describes exactly the tensors in ``state``: the model is first built on PyTorch's ``meta``
    device (shapes only, no memory), so a crafted config cannot make us allocate what the
    file does not hold."""
    _check_bounds(config, path)
    try:
        with torch.device("meta"):
            skeleton = factory(config)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{path} holds a model config this ffjord-edu cannot build: {error}"
        ) from error
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if expected != found:
        count = sum(map(_numel, expected.values()))
        held = sum(map(_numel, found.values()))
        raise ValueError(
            f"{path}: its model_config describes {count:,} weights in {len(expected)} tensors, "
            f"but the file holds {held:,} in {len(found)}; the config or the weights were "
            "altered, so nothing was built. Restore the file from a copy or retrain"
        )
    model = factory(config)
    model.load_state_dict(state)
    return model


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def _check_bounds(config: Any, path: str | Path) -> None:
    if not isinstance(config, dict):
        raise ValueError(f"{path}: model_config must be a dict, got {type(config).__name__}")
    for key, value in config.items():
        values = value if isinstance(value, list | tuple) else [value]
        if len(values) > _MAX_LIST:
            raise ValueError(f"{path}: model_config {key!r} has {len(values)} entries (too many)")
        limit = _MAX_COUNT if key in ("blocks", "scales", "flow_steps") else _MAX_INTEGER
        for item in values:
            if isinstance(item, int | float) and not isinstance(item, bool) and abs(item) > limit:
                raise ValueError(
                    f"{path}: model_config {key!r} = {value} is out of bounds (at most {limit}); "
                    "the file was altered or crafted"
                )


# ---------------------------------------------------------------------------------------------
# The run folder: one run at a time, and writable before training starts


class RunFolderBusy(RuntimeError):
    """Another live process is training into the same folder."""


class RunLock:
    """Holds ``folder/.lock`` while a run writes there, so a second run into it is refused.

    The lock is an OS file lock (``fcntl.flock``) on that file, which the OS releases when the
    holder exits, even on SIGKILL: a lock file left by a dead process is recognised as stale
    and taken over. The file records the holder's pid and host, for the message.

    Example:
        >>> import tempfile
        >>> with RunLock(tempfile.mkdtemp()):
        ...     pass
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / ".lock"
        self._file: Any = None

    def acquire(self) -> RunLock:
        import fcntl  # POSIX only; see docs/reliability.md

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = open(self.path, "a+")  # held open (and locked) until release
        except OSError as error:
            raise _plain_os_error(error, self.path) from error
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise RunFolderBusy(
                f"{self.path.parent} is in use by a running training run ({holder}); wait for "
                "it to finish, stop it, or choose another --out"
            ) from None
        except OSError as error:  # a file system without locks (some network mounts)
            warnings.warn(
                f"cannot lock {self.path} ({error}); nothing stops a second run from writing "
                "into the same folder",
                RuntimeWarning,
                stacklevel=2,
            )
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        # The file stays (empty): deleting it would let a process that opened it just before
        # lock an orphaned file while a third one locks a new one.
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.close()  # closing releases the flock
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_writable(folder: str | Path, needed_bytes: int) -> None:
    """Before training: make ``folder``, write and delete a file there, and check that the
    disk has ``needed_bytes`` free, so a full disk or a read-only folder is reported in plain
    words now rather than as a failed save hours later."""
    folder = Path(folder)
    probe = folder / ".write-test"
    write_atomically(probe, lambda file: Path(file).write_bytes(b"ffjord-edu"))
    probe.unlink()
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise OSError(
            errno.ENOSPC,
            f"only {free / 1e6:.1f} MB free on the disk of {folder}, and this run's checkpoints "
            f"need about {needed_bytes / 1e6:.1f} MB: free some space or choose another --out",
        )
