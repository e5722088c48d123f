"""Preprocessing works in place on its own float32 copy: never a second copy of the data (the
peak memory of a CIFAR-10 run), and never a change to the caller's array."""

import tracemalloc

import numpy as np
import pytest

from nnctl.datasets.preprocess import apply_pipeline, fit_pipeline

STEPS = ["subtract_mean", "scale", "standardize", "flatten"]


def images(dtype, rng, n=500):
    return rng.integers(0, 256, size=(n, 8, 8, 3)).astype(dtype)


def expected(X):
    """The pipeline written out with new arrays (a second implementation)."""
    X = X.astype(np.float64)
    X = (X - X.mean(axis=0)) / 255
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) == 0, 1, X.std(axis=0))
    return X.reshape(len(X), -1)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_the_pipeline_gives_the_written_out_result_and_leaves_its_input_alone(dtype, rng):
    X = images(dtype, rng)
    before = X.copy()
    out, states = fit_pipeline(STEPS, X)
    np.testing.assert_allclose(out, expected(before), rtol=1e-4, atol=1e-5)
    assert out.dtype == np.float32 and np.array_equal(X, before)
    again = apply_pipeline(STEPS, states, X)
    np.testing.assert_array_equal(again, out)
    assert np.array_equal(X, before)


def test_a_read_only_float32_input_is_copied_once_not_written(rng):
    X = images(np.float32, rng)
    X.flags.writeable = False
    out, _ = fit_pipeline(STEPS, X)
    assert out.flags.writeable and not np.shares_memory(out, X)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("layout", ["rows", "transposed"])  # CIFAR-10 loads as a transposed view
def test_the_pipeline_holds_one_float32_copy_of_the_data_at_most(dtype, layout, rng):
    """NumPy reports its array memory to tracemalloc: the peak during fitting and applying
    stays near one float32 copy (two steps out of place, or a flatten that has to copy,
    would make it two)."""
    X = images(dtype, rng, n=20_000)  # 15 MB of float32
    if layout == "transposed":
        X = np.ascontiguousarray(X.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    one_copy = X.size * 4
    tracemalloc.start()
    try:
        out, states = fit_pipeline(STEPS, X)
        del out
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        apply_pipeline(STEPS, states, X)
        apply_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fit_peak < 1.3 * one_copy and apply_peak < 1.3 * one_copy
