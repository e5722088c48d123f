"""Numerical gradients by centred differences, and the relative error used to compare them."""

import logging

import numpy as np

log = logging.getLogger(__name__)


def _centred(f, x, ix, h):
    """(f(x + h e_ix), f(x - h e_ix)), with x perturbed in place at ix and then restored."""
    old = x[ix]
    x[ix] = old + h
    plus = f(x)
    x[ix] = old - h
    minus = f(x)
    x[ix] = old
    return plus, minus


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numerical gradient of a scalar function f at x: (f(x + h e_i) - f(x - h e_i)) / 2h.

    Inputs: f takes one array argument and returns a scalar; x is that argument, perturbed in
    place one element at a time and restored afterwards. Use float64 for meaningful results.
    Returns an array shaped like x. With verbose, each element is logged at DEBUG level.
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        plus, minus = _centred(f, x, ix, h)
        grad[ix] = (plus - minus) / (2 * h)
        if verbose:
            log.debug("%s %s", ix, grad[ix])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of sum(f(x) * df) at x, for an array-valued f with upstream gradient df.

    Inputs: f takes x and returns an array shaped like df; x is perturbed in place and restored.
    Returns an array shaped like x.
    """

    def f_copy(v):  # f may return a view of its input, which the next perturbation would change
        return np.array(f(v), copy=True)

    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        plus, minus = _centred(f_copy, x, ix, h)
        grad[ix] = np.sum((plus - minus) * df) / (2 * h)
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
        plus, minus = _centred(f, x, tuple(int(axis[i]) for axis in indices), h)
        numeric[i] = (plus - minus) / (2 * h)
    return indices, numeric
