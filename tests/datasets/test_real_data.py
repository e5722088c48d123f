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
