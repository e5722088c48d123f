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


def test_strided_overlapping_or_mixed_dtype_arrays_take_the_numpy_path(rng):
    big = rng.standard_normal((200, 100)).astype(np.float32)
    view = big[:, ::2]  # not contiguous
    x = np.ones_like(view)
    expected = view + 2.0 * x
    blas.axpy(2.0, x, view)
    np.testing.assert_allclose(big[:, ::2], expected)
    y = np.ones_like(view)  # now x is the strided one
    expected = y + 2.0 * view
    blas.axpy(2.0, view, y)
    np.testing.assert_allclose(y, expected)
    y = rng.standard_normal(10_000).astype(np.float32)
    expected = y + 0.5 * y
    blas.axpy(0.5, y, y)  # x is y
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    # x and y overlap shifted by one element: BLAS, running along y, would read x entries it
    # has already updated; the result must be computed from the values before the call.
    buffer = rng.standard_normal(10_001).astype(np.float32)
    x, y = buffer[:-1], buffer[1:]
    expected = y + 0.5 * x
    blas.axpy(0.5, x, y)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    # float64 x into float32 y: the float32 routine would read x's bytes as float32.
    x = rng.standard_normal(5000)
    y = rng.standard_normal(5000).astype(np.float32)
    expected = y + 0.5 * x
    blas.axpy(0.5, x, y)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
