"""Splits stored as .npy files in a folder, so worker processes (or Dask workers on a shared
filesystem) can memory-map one loaded, preprocessed copy instead of loading it again."""

import json
from pathlib import Path

import numpy as np

from nnctl import atomic
from nnctl.datasets import Splits, features
from nnctl.datasets.preprocess import states_from_arrays, states_to_arrays
from nnctl.errors import DatasetError

ARRAYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def save_splits(splits, folder):
    """Write splits into folder: one .npy per array, the preprocessing state, and meta.json
    (written last: its presence marks a complete copy)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ARRAYS:
        with atomic.atomic_open(folder / f"{name}.npy", "wb") as f:
            np.save(f, getattr(splits, name), allow_pickle=False)
    atomic.save_npz(
        folder / "preprocess.npz",
        {
            **states_to_arrays(splits.preprocess, splits.preprocess_state),
            **features.states_to_arrays(splits.features, splits.feature_state),
        },
    )
    meta = {
        "class_names": splits.class_names,
        "image_shape": splits.image_shape,
        "preprocess": splits.preprocess,
        "identity": splits.identity,
        "features": splits.features,
    }
    atomic.write_text(folder / "meta.json", json.dumps(meta))


def load_splits(folder, mmap=True):
    """Splits from a folder written by save_splits; arrays memory-mapped read-only."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        arrays = {
            name: np.load(folder / f"{name}.npy", mmap_mode="r" if mmap else None)
            for name in ARRAYS
        }
        with np.load(folder / "preprocess.npz", allow_pickle=False) as f:
            saved = {k: f[k] for k in f.files}
        states = states_from_arrays(meta["preprocess"], saved)
        feature_spec = meta.get("features", [])
        feature_state = features.states_from_arrays(feature_spec, saved)
    except (OSError, ValueError, KeyError) as err:
        raise DatasetError(f"the stored data in {folder} cannot be read ({err})") from None
    return Splits(
        **arrays,
        class_names=meta["class_names"],
        image_shape=tuple(meta["image_shape"]) if meta["image_shape"] else None,
        preprocess=meta["preprocess"],
        preprocess_state=states,
        identity=meta["identity"],
        features=feature_spec,
        feature_state=feature_state,
    )


def is_stored(folder):
    return (Path(folder) / "meta.json").is_file()
