"""Numerical gradients by centred differences, and the relative error used to compare them."""

import logging

import numpy as np

log = logging.getLogger(__name__)


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numerical gradient of a scalar function f at x: (f(x + h e_i) - f(x - h e_i)) / 2h.

    Inputs: f takes one array argument and returns a scalar; x is that argument, perturbed in
    place one element at a time and restored afterwards. Use float64 for meaningful results.
    Returns an array shaped like x. With verbose, each element is logged at DEBUG level.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            log.debug("%s %s", ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of sum(f(x) * df) at x, for an array-valued f with upstream gradient df.

    Inputs: f takes x and returns an array shaped like df; x is perturbed in place and restored.
    Returns an array shaped like x.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), copy=True)
        x[ix] = old - h
        neg = np.array(f(x), copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def rel_error(x, y):
    """Largest element-wise relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def grad_check_sparse(f, x, num_checks=10, h=1e-5, rng=None):
    """Centred differences of a scalar f at num_checks random entries of x (for parameters
    too large to check every entry). x is perturbed in place and restored.

    Returns (indices, numeric): a tuple of index arrays usable as x[indices], and the
    numerical partial derivatives there.
    """
    rng = np.random.default_rng(rng)
    indices = tuple(rng.integers(n, size=num_checks) for n in x.shape)
    numeric = np.zeros(num_checks)
    for i in range(num_checks):
        ix = tuple(int(axis[i]) for axis in indices)
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        numeric[i] = (fxph - fxmh) / (2 * h)
    return indices, numeric
