"""Atomic file writes: a temporary file in the destination's folder, fsync, then rename.

A process killed at any moment leaves either the old or the new version, never half a file.
Files get the permissions the umask gives ordinary new files (result folders are shared on
lab servers and read by Dask workers), not the 0600 of a bare temporary file.
"""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def file_mode():
    """0666 less the process's umask: the mode open() would give a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file beside `path` for writing; on a clean exit it replaces `path`.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text):
    with atomic_open(path, "w") as f:
        f.write(text)


def save_npz(path, arrays, compressed=False):
    """np.savez(_compressed) of a dict of arrays, atomically; nothing pickled."""
    with atomic_open(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
