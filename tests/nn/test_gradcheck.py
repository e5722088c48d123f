"""The gradient checker itself, against derivatives known in closed form."""

import numpy as np
import pytest

from nnctl.nn.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)


def test_numerical_gradient_of_known_functions(rng):
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = eval_numerical_gradient(lambda v: float(np.sum(v**3)), x, verbose=False)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(x, before)  # perturbations are undone


def test_numerical_gradient_array(rng):
    x = rng.standard_normal(5)
    df = rng.standard_normal(5)
    grad = eval_numerical_gradient_array(np.sin, x, df)
    np.testing.assert_allclose(grad, np.cos(x) * df, rtol=1e-8)


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert rel_error(np.zeros(2), np.zeros(2)) == 0


def test_sparse_check_gives_the_partial_derivatives_where_it_looked(rng):
    x = rng.standard_normal((6, 5))
    before = x.copy()
    indices, numeric = grad_check_sparse(lambda v: float(np.sum(v**3)), x, num_checks=12, rng=3)
    assert all(len(axis) == 12 for axis in indices)
    np.testing.assert_allclose(numeric, 3 * before[indices] ** 2, rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(x, before)  # perturbations are undone
    again, _ = grad_check_sparse(lambda v: float(np.sum(v**3)), x, num_checks=12, rng=3)
    assert all(np.array_equal(a, b) for a, b in zip(indices, again, strict=True))  # the seed
    assert len(set(np.ravel_multi_index(indices, x.shape).tolist())) > 6  # spread over x
