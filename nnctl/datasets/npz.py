"""The user's own arrays in a .npz file, validated before anything uses them."""

import zipfile
from pathlib import Path

import numpy as np

from nnctl.datasets.source import RawData, files_identity
from nnctl.errors import DatasetError

REQUIRED = ("X_train", "y_train")
OPTIONAL_PAIRS = (("X_val", "y_val"), ("X_test", "y_test"))


def load(path):
    """RawData from a .npz with X_train, y_train and optionally X_val, y_val, X_test, y_test
    and class_names. Image arrays (N, H, W, C) keep their shape; (N, D) arrays are plain data.

    Raises DatasetError naming the file and the key for every kind of invalid content.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"npz dataset {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise DatasetError(f"{path} is not a readable .npz file ({err})") from None
    missing = [key for key in REQUIRED if key not in arrays]
    if missing:
        raise DatasetError(
            f"{path} lacks {', '.join(missing)} (found: {', '.join(sorted(arrays)) or 'nothing'})"
        )
    for X_key, y_key in OPTIONAL_PAIRS:
        if (X_key in arrays) != (y_key in arrays):
            raise DatasetError(f"{path} has only one of {X_key} and {y_key}; give both or neither")

    pairs = [("X_train", "y_train")] + [p for p in OPTIONAL_PAIRS if p[0] in arrays]
    class_names = [str(c) for c in arrays["class_names"]] if "class_names" in arrays else None
    n_classes = (
        len(class_names)
        if class_names
        else 1 + max(int(arrays[y].max(initial=0)) for _, y in pairs)
    )
    feature_shape = arrays["X_train"].shape[1:]
    for X_key, y_key in pairs:
        X, y = arrays[X_key], arrays[y_key]
        if not np.issubdtype(X.dtype, np.number) or X.ndim < 2:
            raise DatasetError(
                f"{path}: {X_key} must be a numeric (N, ...) array, got {X.dtype} {X.shape}"
            )
        if X.shape[1:] != feature_shape:
            raise DatasetError(
                f"{path}: {X_key} has examples of shape {X.shape[1:]}, X_train has {feature_shape}"
            )
        if y.ndim != 1 or len(y) != len(X):
            raise DatasetError(
                f"{path}: {y_key} needs one label per row of {X_key} ({len(X)}), got {y.shape}"
            )
        if not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(f"{path}: {y_key} must hold integer labels, got {y.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise DatasetError(f"{path}: {y_key} has labels outside 0..{n_classes - 1}")
        if np.issubdtype(X.dtype, np.floating) and not np.all(np.isfinite(X)):
            raise DatasetError(f"{path}: {X_key} holds NaN or infinite values")
    if len(arrays["X_train"]) == 0:
        raise DatasetError(f"{path}: X_train is empty")

    empty_X = np.zeros((0, *feature_shape), dtype=arrays["X_train"].dtype)
    is_image = len(feature_shape) == 3 and feature_shape[2] in (1, 3)
    return RawData(
        X_train=arrays["X_train"],
        y_train=arrays["y_train"].astype(np.int64),
        X_test=arrays.get("X_test", empty_X),
        y_test=arrays.get("y_test", np.zeros(0, dtype=np.int64)).astype(np.int64),
        X_val=arrays.get("X_val"),
        y_val=arrays["y_val"].astype(np.int64) if "y_val" in arrays else None,
        class_names=class_names or [f"class {i}" for i in range(n_classes)],
        image_shape=tuple(feature_shape) if is_image else None,
        identity="npz:" + str(path.resolve()) + ":" + files_identity([path]),
    )
