"""Splitting as the course does, and preprocessing fitted on the training split only."""

import numpy as np
import pytest

from nnctl.datasets import load_dataset
from nnctl.datasets.preprocess import (
    apply_pipeline,
    fit_pipeline,
    states_from_arrays,
    states_to_arrays,
)
from nnctl.errors import ConfigError, DatasetError
from tests.datasets.fakes import write_cifar


@pytest.fixture
def cifar_root(tmp_path):
    write_cifar(tmp_path, n_per_batch=20)  # 100 training, 20 test images
    return tmp_path


def test_val_follows_train_and_test_is_the_first_images(cifar_root):
    from nnctl.datasets import cifar10

    raw = cifar10.load(cifar_root)
    s = load_dataset(
        {
            "dataset": "cifar10",
            "root": str(cifar_root),
            "split": {"train": 70, "val": 10, "test": 5},
        }
    )
    np.testing.assert_array_equal(s.X_train, raw.X_train[:70].astype(np.float32))
    np.testing.assert_array_equal(s.y_train, raw.y_train[:70])
    np.testing.assert_array_equal(s.X_val, raw.X_train[70:80].astype(np.float32))
    np.testing.assert_array_equal(s.y_val, raw.y_train[70:80])
    np.testing.assert_array_equal(s.X_test, raw.X_test[:5].astype(np.float32))
    np.testing.assert_array_equal(s.y_test, raw.y_test[:5])
    assert s.X_train.dtype == np.float32 and s.X_train.flags["C_CONTIGUOUS"]
    assert s.image_shape == (32, 32, 3) and s.input_dim == 3072


def test_default_and_fractional_validation(cifar_root):
    s = load_dataset({"dataset": "cifar10", "root": str(cifar_root)})
    assert (len(s.X_train), len(s.X_val), len(s.X_test)) == (90, 10, 20)
    s = load_dataset({"dataset": "cifar10", "root": str(cifar_root), "val_fraction": 0.25})
    assert (len(s.X_train), len(s.X_val)) == (75, 25)
    # 0.157 * 100 = 15.7 examples: rounded to the nearest, not cut
    s = load_dataset({"dataset": "cifar10", "root": str(cifar_root), "val_fraction": 0.157})
    assert (len(s.X_train), len(s.X_val)) == (84, 16)
    s = load_dataset({"dataset": "cifar10", "root": str(cifar_root), "split": {"train": 95}})
    assert (len(s.X_train), len(s.X_val)) == (95, 5)


def test_subsample_caps_every_split_at_its_first_examples(cifar_root):
    from nnctl.datasets import cifar10

    raw = cifar10.load(cifar_root)
    s = load_dataset(
        {"dataset": "cifar10", "root": str(cifar_root), "split": {"val": 30}, "subsample": 8}
    )
    # Without the cap: train 0..69, val 70..99, test 0..19. With it, the first 8 of each.
    np.testing.assert_array_equal(s.X_train, raw.X_train[:8].astype(np.float32))
    np.testing.assert_array_equal(s.y_train, raw.y_train[:8])
    np.testing.assert_array_equal(s.X_val, raw.X_train[70:78].astype(np.float32))
    np.testing.assert_array_equal(s.y_val, raw.y_train[70:78])
    np.testing.assert_array_equal(s.X_test, raw.X_test[:8].astype(np.float32))
    np.testing.assert_array_equal(s.y_test, raw.y_test[:8])


@pytest.mark.parametrize(
    "split,message",
    [
        (
            {"train": 95, "val": 10},
            "train 95 \\+ val 10 = 105 examples but the training set has 100",
        ),
        ({"test": 21}, "21 test examples but the test set has 20"),
        ({"train": 0}, "at least one example"),
    ],
)
def test_impossible_splits(cifar_root, split, message):
    with pytest.raises(DatasetError, match=message):
        load_dataset({"dataset": "cifar10", "root": str(cifar_root), "split": split})


def test_unknown_names():
    with pytest.raises(ConfigError, match="unknown dataset .cifar100.; valid: blobs, cifar10"):
        load_dataset({"dataset": "cifar100"})
    with pytest.raises(
        ConfigError, match="unknown preprocessing step 'whiten'; valid: channels_first, flatten"
    ):
        load_dataset({"dataset": "spiral", "preprocess": ["whiten"]})
    with pytest.raises(ConfigError, match="unknown feature 'sift'"):
        load_dataset({"dataset": "mnist-mini", "features": ["sift"]})


def test_preprocessing_never_sees_validation_statistics(rng):
    # Train and val come from different distributions: if val leaked into the fitted mean or
    # std, the transformed training data would not be exactly centred and unit-scaled.
    X_train = rng.normal(10.0, 2.0, size=(200, 3)).astype(np.float32)
    X_val = rng.normal(-50.0, 9.0, size=(100, 3)).astype(np.float32)
    out, states = fit_pipeline(["standardize"], X_train)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(states[0]["mean"], X_train.mean(axis=0), rtol=1e-6)
    val_out = apply_pipeline(["standardize"], states, X_val)
    expected = (X_val - X_train.mean(axis=0)) / X_train.std(axis=0)
    np.testing.assert_allclose(val_out, expected, rtol=1e-4, atol=1e-4)


def test_the_loader_fits_on_train_only(rng, tmp_path):
    X_train = rng.normal(5.0, 1.0, size=(40, 2, 2, 3))
    X_test = rng.normal(-5.0, 1.0, size=(10, 2, 2, 3))
    np.savez(
        tmp_path / "d.npz",
        X_train=X_train,
        y_train=np.zeros(40, int),
        X_test=X_test,
        y_test=np.zeros(10, int),
    )
    s = load_dataset(
        {
            "dataset": "npz",
            "path": str(tmp_path / "d.npz"),
            "split": {"train": 30, "val": 10},
            "preprocess": ["subtract_mean"],
        }
    )
    mean_image = X_train[:30].mean(axis=0)
    np.testing.assert_allclose(s.preprocess_state[0]["mean"], mean_image, rtol=1e-5)
    np.testing.assert_allclose(s.X_val, X_train[30:40] - mean_image, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.X_test, X_test - mean_image, rtol=1e-5, atol=1e-5)


def test_each_step(rng):
    X = rng.integers(0, 256, size=(5, 4, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(fit_pipeline(["scale"], X)[0], X / 255, rtol=1e-6)
    flat = fit_pipeline(["flatten"], X)[0]
    assert flat.shape == (5, 24)
    for n, h, w, c in np.ndindex(X.shape):  # row-major: (h, w, c) -> (h * 3 + w) * 2 + c
        assert flat[n, (h * 3 + w) * 2 + c] == X[n, h, w, c]
    cf = fit_pipeline(["channels_first"], X)[0]
    assert cf.shape == (5, 2, 4, 3) and cf[1, 1, 2, 0] == X[1, 2, 0, 1]
    with pytest.raises(DatasetError, match="channels_first needs images"):
        fit_pipeline(["flatten", "channels_first"], X)
    constant = np.ones((4, 2), dtype=np.float32)
    assert np.all(np.isfinite(fit_pipeline(["standardize"], constant)[0]))


def test_states_round_trip_through_arrays(rng):
    steps = ["scale", "subtract_mean", "flatten", "standardize"]
    X = rng.integers(0, 256, size=(6, 2, 2, 3))
    _, states = fit_pipeline(steps, X)
    arrays = states_to_arrays(steps, states)
    assert sorted(arrays) == [
        "preprocess/1/subtract_mean/mean",
        "preprocess/3/standardize/mean",
        "preprocess/3/standardize/std",
    ]
    again = states_from_arrays(steps, arrays)
    new = rng.integers(0, 256, size=(3, 2, 2, 3))
    np.testing.assert_array_equal(
        apply_pipeline(steps, again, new), apply_pipeline(steps, states, new)
    )
    with pytest.raises(DatasetError, match="incomplete"):
        states_from_arrays(steps, {k: v for k, v in arrays.items() if not k.endswith("std")})
