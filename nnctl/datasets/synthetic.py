"""Datasets generated from the run's Generator: the course's spiral and Gaussian blobs."""

import numpy as np

from nnctl.datasets.source import RawData


def _shuffle_split(X, y, n_train, rng):
    order = rng.permutation(len(X))
    X, y = X[order].astype(np.float32), y[order]
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def spiral(n_train, n_test, rng, classes=3, noise=0.2):
    """The course's 2-D spiral: `classes` arms, points along each arm at radius 0..1 with
    angular noise of standard deviation `noise`. X (N, 2) float32, y (N,) int64."""
    total = n_train + n_test
    counts = np.full(classes, total // classes)
    counts[: total % classes] += 1
    X_parts, y_parts = [], []
    for j, n in enumerate(counts):
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(4.0 * j, 4.0 * (j + 1), n) + noise * rng.standard_normal(n)
        X_parts.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        y_parts.append(np.full(n, j, dtype=np.int64))
    X_train, y_train, X_test, y_test = _shuffle_split(
        np.concatenate(X_parts), np.concatenate(y_parts), n_train, rng
    )
    return X_train, y_train, X_test, y_test


def blobs(n_train, n_test, rng, classes=3, dim=2, noise=1.0):
    """Gaussian clusters: one centre per class drawn from N(0, 4^2 I) in `dim` dimensions,
    points N(centre, noise^2 I). X (N, dim) float32, y (N,) int64."""
    total = n_train + n_test
    centres = 4.0 * rng.standard_normal((classes, dim))
    y = np.arange(total) % classes
    X = centres[y] + noise * rng.standard_normal((total, dim))
    return _shuffle_split(X, y.astype(np.int64), n_train, rng)


GENERATORS = {"spiral": spiral, "blobs": blobs}


def load(name, n_train, n_test, rng, classes=None, dim=None, noise=None):
    """RawData for a generated set; None options take each generator's defaults."""
    options = {"classes": classes, "noise": noise}
    if name == "blobs":
        options["dim"] = dim
    options = {k: v for k, v in options.items() if v is not None}
    X_train, y_train, X_test, y_test = GENERATORS[name](n_train, n_test, rng, **options)
    n_classes = options.get("classes", 3)
    return RawData(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        class_names=[f"class {i}" for i in range(n_classes)],
        image_shape=None,
        identity=f"{name}:{n_train}:{n_test}:{sorted(options.items())}",
    )
