"""The genuine CIFAR-10 and MNIST in ../shared/datasets (skipped when absent)."""

from pathlib import Path

import numpy as np
import pytest

from nnctl.datasets import load_dataset

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/datasets is not here"),
]


def test_real_cifar10():
    s = load_dataset({"dataset": "cifar10", "root": str(SHARED), "split": {"val": 0}})
    assert s.X_train.shape == (50000, 32, 32, 3) and s.X_test.shape == (10000, 32, 32, 3)
    assert s.X_train.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(s.y_train), 5000)
    np.testing.assert_array_equal(np.bincount(s.y_test), 1000)
    assert s.class_names == [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    assert 0 <= s.X_train.min() and s.X_train.max() == 255


def test_real_mnist():
    s = load_dataset({"dataset": "mnist", "root": str(SHARED), "split": {"val": 0}})
    assert s.X_train.shape == (60000, 28, 28, 1) and s.X_test.shape == (10000, 28, 28, 1)
    assert np.bincount(s.y_test).sum() == 10000 and len(np.unique(s.y_train)) == 10


def test_kmeans_features_of_real_cifar10_beat_pixels(tmp_path):
    # A small version of configs/cifar10_kmeans_svm.yaml: 5,000 training images, 200 centres,
    # patches at stride 2; a ridge classifier (closed form, independent of the Solver) on
    # the features against the same classifier on the pixels.
    def ridge_accuracy(s):
        X = np.hstack([s.X_train, np.ones((len(s.X_train), 1), np.float32)]).astype(np.float64)
        targets = 2.0 * np.eye(10)[s.y_train] - 1
        W = np.linalg.solve(X.T @ X + 1e3 * np.eye(X.shape[1]), X.T @ targets)
        X_test = np.hstack([s.X_test, np.ones((len(s.X_test), 1), np.float32)])
        return float(np.mean(np.argmax(X_test @ W, axis=1) == s.y_test))

    split = {"train": 5000, "val": 0, "test": 1000}
    kmeans = {"centroids": 200, "patches": 50000, "stride": 2, "iterations": 5}
    common = {"dataset": "cifar10", "root": str(SHARED), "split": split}
    feats = load_dataset(
        {**common, "features": [{"kmeans": kmeans}], "preprocess": ["standardize"]},
        cache_dir=tmp_path,
    )
    assert feats.X_train.shape == (5000, 4 * 200)
    pixels = load_dataset({**common, "preprocess": ["standardize", "flatten"]})
    with_features, with_pixels = ridge_accuracy(feats), ridge_accuracy(pixels)
    assert with_features > 0.50 and with_features > with_pixels + 0.15, (  # 54% and 34%
        with_features,
        with_pixels,
    )
