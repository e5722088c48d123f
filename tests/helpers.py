"""Small assertions shared by the test modules."""

import numpy as np


def assert_grad_close(numeric, analytic, rtol, atol=1e-9, name=""):
    """Element-wise |numeric - analytic| <= rtol * (|numeric| + |analytic|) + atol.

    Like rel_error, but an entry whose true gradient is exactly 0 (a dead ReLU, a class with no
    margin violation) is compared absolutely: the centred difference leaves ~1e-11 of rounding
    there, which no relative measure can accept.
    """
    numeric, analytic = np.asarray(numeric), np.asarray(analytic)
    assert numeric.shape == analytic.shape, name
    bound = rtol * (np.abs(numeric) + np.abs(analytic)) + atol
    worst = np.max(np.abs(numeric - analytic) - bound)
    assert worst <= 0, f"{name}: gradient mismatch (worst excess {worst:.3g})"
