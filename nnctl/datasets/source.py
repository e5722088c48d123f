"""What every dataset source returns, and where files are looked for."""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class RawData:
    """A dataset as its source provides it, before splitting and preprocessing.

    - X_train, y_train: the official training set, (N, ...) and (N,) int64
    - X_test, y_test: the official test set (may hold 0 examples)
    - X_val, y_val: a validation set of the source's own, or None (then validation is
      sliced from the training set)
    - class_names: one name per class
    - image_shape: (H, W, C) for images, None for other data
    - identity: a string that changes when the underlying data changes (file names, sizes,
      modification times, or generator settings); part of the feature-cache key.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    image_shape: tuple | None
    identity: str
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None


def default_cache_dir():
    """~/.cache/nnctl, respecting XDG_CACHE_HOME."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnctl"


def data_root(config_root=None, cli_dir=None):
    """Where dataset files are looked for: the config's data.root, else --data-dir, else
    $NNCTL_DATA_DIR, else the cache directory (~/.cache/nnctl)."""
    for candidate in (config_root, cli_dir, os.environ.get("NNCTL_DATA_DIR")):
        if candidate:
            return Path(candidate).expanduser()
    return default_cache_dir()


def files_identity(paths):
    """A string naming files by name, size and modification time (cheap, no hashing)."""
    parts = []
    for path in sorted(Path(p) for p in paths):
        stat = path.stat()
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return ";".join(parts)
