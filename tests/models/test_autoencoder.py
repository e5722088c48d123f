"""Autoencoder and the subspace measures: hand-worked toys, numeric gradients, the homework's
gradient formula by an explicit loop, and convergence to a known principal subspace."""

import itertools
import json

import numpy as np
import pytest

from nnctl import viz
from nnctl.errors import ConfigError, ModelError
from nnctl.models.autoencoder import Autoencoder
from nnctl.models.subspace import orthonormality_error, pca_subspace, principal_angles
from nnctl.nn.gradcheck import eval_numerical_gradient
from nnctl.nn.layers import ACTIVATIONS
from nnctl.nn.optim import adam, sgd
from tests.helpers import assert_grad_close

# float64, h = 1e-5, as in test_fcnet: smooth paths agree to ~1e-8; relu's kink can cost digits.
GRAD_TOL = 1e-5


def _rotation_rows(angle_deg):
    """e1 and e1 turned by angle_deg towards e2, as rows in R^3."""
    t = np.radians(angle_deg)
    return np.array([[1.0, 0.0, 0.0]]), np.array([[np.cos(t), np.sin(t), 0.0]])


# ---------------------------------------------------------------------------------------------
# A hand-worked toy


def test_tied_linear_loss_and_gradient_by_hand():
    # W = [1, 0] keeps x's first coordinate: x_hat = (x1, 0), residual r = (0, -x2).
    # L = (2^2 + 4^2) / (2 * 2) = 5. dL/dW = mean_i [W r x^T + W x r^T] = mean_i [0 + x1 (0, -x2)]
    # = ((0, -1*2) + (0, -3*4)) / 2 = (0, -7).
    model = Autoencoder(1, 2, dtype=np.float64)
    model.params["W"] = np.array([[1.0, 0.0]])
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    loss, grads = model.loss(X, y=np.zeros(2))
    assert loss == pytest.approx(5.0)
    np.testing.assert_allclose(grads["W"], [[0.0, -7.0]])
    np.testing.assert_allclose(model.loss(X), [[1.0, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(model.encode(X), [[1.0], [3.0]])
    assert model.reconstruction_error(X) == pytest.approx(5.0)


# ---------------------------------------------------------------------------------------------
# Gradients


@pytest.mark.parametrize(
    "tied,activation,reg",
    list(itertools.product([True, False], [None, *sorted(ACTIVATIONS)], [0.0, 0.7])),
)
def test_gradients_match_numeric(tied, activation, reg, rng):
    N, n, m = 6, 7, 3
    X = rng.standard_normal((N, n)) + 0.5  # a non-zero mean, so the biases matter
    model = Autoencoder(
        m, n, tied=tied, activation=activation, reg=reg, weight_scale=0.5, dtype=np.float64, seed=1
    )
    loss, grads = model.loss(X, y=np.zeros(N))
    assert np.isfinite(loss)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        numeric = eval_numerical_gradient(lambda _: model.loss(X, y=0)[0], param, verbose=False)
        assert_grad_close(numeric, grads[name], GRAD_TOL, name=name)


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_tied_gradient_is_the_homework_formula(reg, rng):
    # dL/dW = (1/N) sum_i [W (W^T W x_i - x_i) x_i^T + W x_i (W^T W x_i - x_i)^T] + reg W,
    # written out one example at a time, with column vectors, as in the issue.
    N, n, m = 5, 6, 2
    X = rng.standard_normal((N, n))
    model = Autoencoder(m, n, reg=reg, weight_scale=0.4, dtype=np.float64, seed=3)
    W = model.params["W"].copy()
    expected_grad = np.zeros_like(W)
    expected_loss = 0.0
    for x in X:
        x = x[:, None]  # (n, 1)
        r = W.T @ W @ x - x
        expected_grad += W @ r @ x.T + W @ x @ r.T
        expected_loss += 0.5 * np.sum(r * r)
    expected_grad = expected_grad / N + reg * W
    expected_loss = expected_loss / N + 0.5 * reg * np.sum(W**2)

    loss, grads = model.loss(X, y=0)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(grads["W"], expected_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("tied", [True, False])
def test_reg_is_read_at_call_time_and_covers_every_weight_matrix(tied, rng):
    X = rng.standard_normal((4, 5))
    model = Autoencoder(2, 5, tied=tied, dtype=np.float64, seed=0)
    for name, param in model.params.items():
        if name.startswith("b"):
            param[...] = rng.standard_normal(param.shape)  # biases are not regularised
    loss0, grads0 = model.loss(X, y=0)
    model.reg = 2.0
    loss2, grads2 = model.loss(X, y=0)
    weights = ["W"] if tied else ["W1", "W2"]
    assert loss2 - loss0 == pytest.approx(sum(np.sum(model.params[w] ** 2) for w in weights))
    for name in model.params:
        expected = 2.0 * model.params[name] if name in weights else 0.0
        np.testing.assert_allclose(grads2[name] - grads0[name], expected, atol=1e-12)


def test_labels_are_ignored(rng):
    X = rng.standard_normal((4, 5))
    model = Autoencoder(2, 5, tied=False, dtype=np.float64, seed=0)
    loss_a, grads_a = model.loss(X, y=np.arange(4))
    loss_b, grads_b = model.loss(X, y=np.zeros(4))
    assert loss_a == loss_b
    for name in grads_a:
        np.testing.assert_array_equal(grads_a[name], grads_b[name])


# ---------------------------------------------------------------------------------------------
# What it learns: the principal subspace


def _data_in_a_known_subspace(rng, N, n, scales, noise=0.01):
    """X (N, n) = coefficients of standard deviations `scales` along len(scales) orthonormal
    directions U (m, n), plus isotropic noise; returns (X, U)."""
    U = np.linalg.qr(rng.standard_normal((n, len(scales))))[0].T
    coefficients = rng.standard_normal((N, len(scales))) * np.asarray(scales)
    return coefficients @ U + noise * rng.standard_normal((N, n)), U


def test_gradient_descent_finds_the_principal_subspace(rng):
    X, U = _data_in_a_known_subspace(rng, N=400, n=12, scales=[3.0, 2.0, 1.5])
    model = Autoencoder(3, X.shape[1], weight_scale=0.1, dtype=np.float64, seed=0)
    config = {"learning_rate": 0.02}
    for _ in range(1500):  # full-batch gradient descent
        _, grads = model.loss(X, y=0)
        model.params["W"], config = sgd(model.params["W"], grads["W"], config)
    W = model.params["W"]

    assert principal_angles(W, U).max() < 1.0  # degrees, to the subspace the data came from
    # The exact minimiser is the top-3 subspace of this sample's X^T X / N.
    assert principal_angles(W, pca_subspace(X, 3)).max() < 0.01
    assert orthonormality_error(W) < 1e-3
    assert orthonormality_error(0.1 * U) > 0.9  # (the measure is not trivially small)


def test_untied_model_with_biases_finds_the_centred_subspace(rng):
    X, U = _data_in_a_known_subspace(rng, N=300, n=8, scales=[2.0, 1.0])
    mean = rng.standard_normal(X.shape[1])
    X = X + 3.0 * mean / np.linalg.norm(mean)  # mostly outside the subspace; 9 > both variances
    model = Autoencoder(2, X.shape[1], tied=False, weight_scale=0.1, dtype=np.float64, seed=0)
    config = {name: {"learning_rate": 1e-2} for name in model.params}
    for _ in range(1500):
        _, grads = model.loss(X, y=0)
        for name in model.params:
            model.params[name], config[name] = adam(model.params[name], grads[name], config[name])

    centred = pca_subspace(X, 2, center=True)
    assert principal_angles(centred, U).max() < 1.0
    # The decoder's rows span the reconstructions x_hat - b2. (The encoder is pinned down only
    # along directions in which the data vary, so its rows are not compared.)
    assert principal_angles(model.params["W2"], centred).max() < 1.0
    # Uncentred, the mean dominates: the top direction is not in the data's subspace.
    assert principal_angles(pca_subspace(X, 2), U).max() > 30.0


# ---------------------------------------------------------------------------------------------
# The subspace measures


def test_pca_subspace_matches_an_svd(rng):
    X = rng.standard_normal((50, 6)) * np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5]) + 1.0
    for center in (False, True):
        Xc = X - X.mean(axis=0) if center else X
        V = np.linalg.svd(Xc, full_matrices=False)[2]  # right singular vectors, descending
        P = pca_subspace(X, 3, center=center)
        assert P.shape == (3, 6)
        np.testing.assert_allclose(np.abs(np.sum(P * V[:3], axis=1)), 1.0, atol=1e-10)


def test_pca_subspace_centring_by_hand():
    # Points (10, t, 0) for t in {-1, 1}: uncentred, the top direction is e1 (second moment 100
    # against 1); centred, e1 has no variance left and the top direction is e2.
    X = np.array([[10.0, -1.0, 0.0], [10.0, 1.0, 0.0]])
    np.testing.assert_allclose(np.abs(pca_subspace(X, 1)), [[1.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(
        np.abs(pca_subspace(X, 1, center=True)), [[0.0, 1.0, 0.0]], atol=1e-12
    )


def test_principal_angles_hand_made_cases(rng):
    e = np.eye(3)
    assert principal_angles(e[:2], e[:2]) == pytest.approx([0.0, 0.0], abs=1e-12)
    # Another basis of the same plane: still identical spaces.
    assert principal_angles(e[:2], np.array([[2.0, 3.0, 0.0], [-1.0, 5.0, 0.0]])) == (
        pytest.approx([0.0, 0.0], abs=1e-12)
    )
    assert principal_angles(e[:1], e[1:2]) == pytest.approx([90.0])
    assert principal_angles(e[:2], e[2:]) == pytest.approx([90.0])
    assert principal_angles(*_rotation_rows(30.0)) == pytest.approx([30.0])
    # A plane turned by 30 degrees about e1: one shared direction, one at 30 degrees.
    t = np.radians(30.0)
    turned = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), np.sin(t)]])
    assert principal_angles(e[:2], turned) == pytest.approx([0.0, 30.0], abs=1e-12)
    # A line inside a plane, either way round.
    assert principal_angles(e[:1], e[:2]) == pytest.approx([0.0], abs=1e-12)
    assert principal_angles(e[:2], e[:1]) == pytest.approx([0.0], abs=1e-12)
    # Tiny angles stay resolved (arccos alone returns 0 below ~1e-6 degrees).
    assert principal_angles(*_rotation_rows(1e-7)) == pytest.approx([1e-7], rel=1e-6)
    # Symmetric in its arguments.
    A, B = rng.standard_normal((3, 7)), rng.standard_normal((3, 7))
    np.testing.assert_allclose(principal_angles(A, B), principal_angles(B, A), atol=1e-10)


def test_principal_angles_rejects_dependent_or_non_finite_rows():
    with pytest.raises(ModelError, match="linearly dependent"):
        principal_angles([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]], np.eye(3)[:2])
    with pytest.raises(ModelError, match="NaN"):
        principal_angles([[np.nan, 0.0, 0.0]], np.eye(3)[:1])


def test_orthonormality_error_by_hand():
    assert orthonormality_error(np.eye(3)[:2]) == pytest.approx(0.0)
    assert orthonormality_error([[2.0, 0.0]]) == pytest.approx(3.0)  # |4 - 1|
    # W W^T - I = [[0, 1], [1, 0]]: Frobenius norm sqrt(2).
    assert orthonormality_error([[1.0, 0.0], [1.0, 0.0]]) == pytest.approx(np.sqrt(2.0))


# ---------------------------------------------------------------------------------------------
# The model contract: dtype, spec, reconstruction error, errors


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("activation", [None, "tanh"])
def test_float32_stays_float32(tied, activation, rng):
    X = rng.integers(0, 256, size=(5, 4, 4, 1)).astype(np.uint8)  # images, not yet scaled
    model = Autoencoder(3, 16, tied=tied, activation=activation, reg=0.1, seed=0)
    assert all(p.dtype == np.float32 for p in model.params.values())
    loss, grads = model.loss(X, y=0)
    assert isinstance(loss, float)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.loss(X).dtype == np.float32
    assert model.loss(X).shape == (5, 16)
    assert model.encode(X).dtype == np.float32


@pytest.mark.parametrize("tied", [True, False])
def test_spec_rebuilds_the_same_model(tied, rng):
    X = rng.standard_normal((4, 6))
    model = Autoencoder(2, 6, tied=tied, activation="sigmoid", reg=0.2, init="xavier", seed=5)
    spec = json.loads(json.dumps(model.spec()))  # plain data
    assert spec.pop("type") == "autoencoder"
    rebuilt = Autoencoder(**spec, seed=5)  # the same seed draws the same weights
    for name in model.params:
        np.testing.assert_array_equal(rebuilt.params[name], model.params[name])
    assert rebuilt.loss(X, y=0)[0] == model.loss(X, y=0)[0]
    assert model.state_arrays() == {}
    model.load_state_arrays({})


def test_reconstruction_error_is_the_unregularised_loss_per_example(rng):
    X = rng.standard_normal((7, 5))
    model = Autoencoder(2, 5, reg=0.5, dtype=np.float64, seed=0)
    W = model.params["W"]
    by_example = np.mean([0.5 * np.sum((W.T @ W @ x - x) ** 2) for x in X])
    for batch_size in (1, 3, 1000):
        assert model.reconstruction_error(X, batch_size=batch_size) == pytest.approx(by_example)
    loss, _ = model.loss(X, y=0)
    assert loss - 0.5 * model.reg * np.sum(W**2) == pytest.approx(by_example)


def test_bad_settings_and_inputs_are_refused(rng):
    with pytest.raises(ModelError, match="code_dim < input_dim"):
        Autoencoder(5, 5)
    with pytest.raises(ConfigError, match="unknown activation"):
        Autoencoder(2, 5, activation="cube")
    with pytest.raises(ModelError, match="unknown init"):
        Autoencoder(2, 5, init="orthogonal")
    with pytest.raises(ModelError, match="5 values, got 4"):
        Autoencoder(2, 5).loss(rng.standard_normal((3, 4)))


# ---------------------------------------------------------------------------------------------
# The picture of reconstructions (a viz helper, tested here beside its model)


def test_reconstruction_grid_puts_each_original_above_its_reconstruction():
    # Three 2x2 grey images with values 1, 2, 3 and reconstructions 0.5 above them, two per band.
    originals = np.repeat(np.arange(1.0, 4.0), 4).reshape(3, 4)
    grid = viz.reconstruction_grid(originals, originals + 0.5, (2, 2, 1), columns=2)
    assert grid.shape == (2 * (2 * 2 + 3) - 2, 2 * 3 - 1, 1)
    # Both scaled by the originals' range [1, 3]: original i (from 0) is i / 2, its
    # reconstruction i / 2 + 0.25, clipped at 1.
    for i, (y0, x0) in enumerate([(0, 0), (0, 3), (7, 0)]):
        np.testing.assert_allclose(grid[y0 : y0 + 2, x0 : x0 + 2], i / 2)
        np.testing.assert_allclose(grid[y0 + 3 : y0 + 5, x0 : x0 + 2], min(1.0, i / 2 + 0.25))
    assert np.all(grid[7:, 3:] == 1.0)  # the empty fourth slot is background
