"""y += alpha * x in one pass, through the BLAS library NumPy itself has loaded.

NumPy has no fused "scaled add": `y += alpha * x` writes and reads a temporary as large as the
parameters, and that memory traffic made the update rules a sixth of a training step on
large layers. BLAS's axpy does it in a single (multi-threaded) pass. The library is found
with threadpoolctl among those already loaded; where it cannot be found (another BLAS,
another platform) the plain NumPy expression is used, with the same result up to rounding.
"""

import ctypes

import numpy as np

MIN_SIZE = 4096  # below this the call overhead outweighs the saved pass

# (symbol, integer type) for float32 and float64, in the order tried. NumPy's own wheels ship
# OpenBLAS with 64-bit integers and the scipy_ prefix; a system OpenBLAS uses the plain names.
_SYMBOLS = {
    np.float32: [
        ("scipy_cblas_saxpy64_", ctypes.c_int64),
        ("cblas_saxpy64_", ctypes.c_int64),
        ("cblas_saxpy", ctypes.c_int),
    ],
    np.float64: [
        ("scipy_cblas_daxpy64_", ctypes.c_int64),
        ("cblas_daxpy64_", ctypes.c_int64),
        ("cblas_daxpy", ctypes.c_int),
    ],
}
_functions = None


def _find():
    """{dtype: ctypes function} for the axpy routines of NumPy's BLAS (empty if not found)."""
    found = {}
    try:
        from threadpoolctl import threadpool_info

        paths = [info["filepath"] for info in threadpool_info() if info.get("user_api") == "blas"]
    except Exception:  # threadpoolctl could not inspect this process: use NumPy
        return found
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for dtype, candidates in _SYMBOLS.items():
            for name, int_type in candidates:
                function = getattr(lib, name, None)
                if function is not None and dtype not in found:
                    scalar = ctypes.c_float if dtype is np.float32 else ctypes.c_double
                    function.argtypes = [
                        int_type,
                        scalar,
                        ctypes.c_void_p,
                        int_type,
                        ctypes.c_void_p,
                        int_type,
                    ]
                    function.restype = None
                    found[dtype] = function
                    break
    return found


def available(dtype=np.float32):
    """Whether the BLAS routine for dtype was found."""
    global _functions
    if _functions is None:
        _functions = _find()
    return np.dtype(dtype).type in _functions


def axpy(alpha, x, y):
    """y += alpha * x, in place; x and y are arrays of one shape and floating dtype."""
    dtype = y.dtype.type
    if (
        y.size >= MIN_SIZE
        and x.dtype == y.dtype
        and x.shape == y.shape
        and x.flags.c_contiguous
        and y.flags.c_contiguous
        and y.flags.writeable
        and not np.shares_memory(x, y)
        and available(dtype)
    ):
        _functions[dtype](y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    else:
        y += alpha * x
    return y
