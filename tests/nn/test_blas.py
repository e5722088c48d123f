"""The fused scaled add against plain NumPy, through BLAS and through the fallback."""

import numpy as np
import pytest

from nnctl.nn import blas


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [10, 5000, 100_003])
def test_axpy_equals_numpy(dtype, size, rng):
    x = rng.standard_normal(size).astype(dtype)
    y = rng.standard_normal(size).astype(dtype)
    expected = y + dtype(-0.37) * x
    out = blas.axpy(-0.37, x, y)
    assert out is y and y.dtype == dtype
    # A fused multiply-add rounds once where NumPy rounds twice: equal to a few ulps of the
    # operands (not of the result, which can cancel to near zero).
    eps = np.finfo(dtype).eps
    scale = float(np.max(np.abs(x) + np.abs(expected)))
    np.testing.assert_allclose(y, expected, rtol=0, atol=4 * eps * scale)


def test_numpys_blas_is_found_on_this_platform():
    # NumPy's wheels bundle OpenBLAS with the axpy symbols; losing them would silently cost speed.
    assert blas.available(np.float32) and blas.available(np.float64)


def test_non_contiguous_and_shared_memory_take_the_numpy_path(rng):
    big = rng.standard_normal((200, 100)).astype(np.float32)
    view = big[:, ::2]  # not contiguous
    x = np.ones_like(view)
    expected = view + 2.0 * x
    blas.axpy(2.0, x, view)
    np.testing.assert_allclose(big[:, ::2], expected)
    y = rng.standard_normal(10_000).astype(np.float32)
    expected = y + 0.5 * y
    blas.axpy(0.5, y, y)  # x is y: BLAS must not be given overlapping arrays
    np.testing.assert_allclose(y, expected, rtol=1e-6)
