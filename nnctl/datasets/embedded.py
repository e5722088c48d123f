"""mnist-mini: a stratified subset of real MNIST shipped inside the package (works offline).

Made by scripts/make_mnist_mini.py from the original IDX files.
"""

from importlib import resources

import numpy as np

from nnctl.datasets.mnist import CLASS_NAMES
from nnctl.datasets.source import RawData
from nnctl.errors import DatasetError

FILE = "mnist_mini.npz"


def path():
    """Where the bundled file is inside the installed package."""
    return resources.files("nnctl.datasets") / "data" / FILE


def load():
    """RawData for mnist-mini: uint8 images (N, 28, 28, 1), labels int64."""
    try:
        with resources.as_file(path()) as file, np.load(file, allow_pickle=False) as f:
            arrays = {key: f[key] for key in ("X_train", "y_train", "X_test", "y_test")}
    except (OSError, KeyError, ValueError) as err:
        raise DatasetError(
            f"the bundled mnist-mini file is missing or damaged ({err}); reinstall nnctl"
        ) from None
    return RawData(
        X_train=arrays["X_train"],
        y_train=arrays["y_train"].astype(np.int64),
        X_test=arrays["X_test"],
        y_test=arrays["y_test"].astype(np.int64),
        class_names=CLASS_NAMES["mnist"],
        image_shape=(28, 28, 1),
        identity=f"mnist-mini:{len(arrays['y_train'])}:{len(arrays['y_test'])}",
    )
