"""Loss tests: numerical gradients, hand-computed values, numerical stability."""

import math

import numpy as np
import pytest

from nnctl.nn.gradcheck import eval_numerical_gradient, rel_error
from nnctl.nn.losses import LOSSES, mse_loss, softmax_loss, svm_loss


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_numeric(name, rng):
    loss_fn = LOSSES[name]
    N, C = 9, 7
    x = rng.standard_normal((N, C))
    y = rng.integers(C, size=N)
    _, dx = loss_fn(x, y)
    dx_num = eval_numerical_gradient(lambda v: loss_fn(v, y)[0], x, verbose=False)
    # The hinge has kinks where a margin is exactly 0; random normal scores are never within
    # h of one, so the same tight bound holds for all three losses.
    assert rel_error(dx, dx_num) < 1e-7


def test_mse_float_targets_gradient(rng):
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    _, dx = mse_loss(x, t)
    assert (
        rel_error(dx, eval_numerical_gradient(lambda v: mse_loss(v, t)[0], x, verbose=False)) < 1e-7
    )


def test_tiny_scores_give_the_textbook_losses(rng):
    N, C = 500, 10
    x = 1e-3 * rng.standard_normal((N, C))
    y = rng.integers(C, size=N)
    assert softmax_loss(x, y)[0] == pytest.approx(math.log(C), abs=1e-3)
    assert svm_loss(x, y)[0] == pytest.approx(C - 1, abs=1e-2)


def test_hand_computed_values():
    x = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.5]])
    y = np.array([2, 0])
    # softmax: row 0 -log(e^3 / (e + e^2 + e^3)); row 1 -log(e^1 / (e + e^-1 + e^0.5))
    row0 = -math.log(math.exp(3) / (math.exp(1) + math.exp(2) + math.exp(3)))
    row1 = -math.log(math.exp(1) / (math.exp(1) + math.exp(-1) + math.exp(0.5)))
    assert softmax_loss(x, y)[0] == pytest.approx((row0 + row1) / 2)
    # svm: row 0 max(0, 1-3+1) + max(0, 2-3+1) = 0; row 1 max(0, -1-1+1) + max(0, .5-1+1) = .5
    loss, dx = svm_loss(x, y)
    assert loss == pytest.approx(0.25)
    np.testing.assert_allclose(dx, [[0, 0, 0], [-0.5, 0, 0.5]])
    # mse with labels: targets one-hot; row 0 diffs (1, 2, 2), row 1 diffs (0, -1, .5)
    loss, dx = mse_loss(x, y)
    assert loss == pytest.approx((1 + 4 + 4 + 0 + 1 + 0.25) / 4)
    np.testing.assert_allclose(dx, [[0.5, 1, 1], [0, -0.5, 0.25]])


def test_softmax_is_finite_for_huge_scores():
    x = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=np.float32)
    loss, dx = softmax_loss(x, np.array([0, 0]))
    assert math.isfinite(loss) and np.all(np.isfinite(dx))
    assert loss == pytest.approx((1e4 + math.log(2)) / 2, rel=1e-6)  # row 0: 0; row 1: 1e4 + log 2
    assert dx.dtype == np.float32


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_keep_dtype(name, dtype, rng):
    x = rng.standard_normal((4, 3)).astype(dtype)
    _, dx = LOSSES[name](x, np.array([0, 1, 2, 1]))
    assert dx.dtype == dtype


def test_mse_rejects_mismatched_targets():
    with pytest.raises(ValueError, match="shaped like the scores"):
        mse_loss(np.zeros((2, 3)), np.zeros((2, 2)))


def test_label_smoothing_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    y = np.array([2, 0])
    eps = 0.3  # targets: 0.8 on the class, 0.1 on each of the 3 classes besides
    targets = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    p0 = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    p = np.array([p0, [1 / 3, 1 / 3, 1 / 3]])
    expected_loss = -np.sum(targets * np.log(p)) / 2
    loss, dx = softmax_loss(x, y, smoothing=eps)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(dx, (p - targets) / 2, rtol=1e-12)
    # The second row's loss is log 3 whatever the smoothing: uniform scores fit any target.
    assert softmax_loss(x[1:], y[1:], smoothing=0.9)[0] == pytest.approx(math.log(3))


@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_label_smoothing_gradient_numeric(rng, eps):
    N, C = 8, 5
    x = 3 * rng.standard_normal((N, C))
    y = rng.integers(C, size=N)
    _, dx = softmax_loss(x, y, smoothing=eps)
    dx_num = eval_numerical_gradient(lambda v: softmax_loss(v, y, smoothing=eps)[0], x, False)
    assert rel_error(dx, dx_num) < 1e-7


def test_label_smoothing_is_finite_for_huge_scores():
    x = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
    loss, dx = softmax_loss(x, np.array([0]), smoothing=0.3)
    # -0.1 * log p_1 - 0.1 * log p_2 with log p_1 = -1e4, log p_2 = -2e4 (and log p_0 = 0)
    assert loss == pytest.approx(0.1 * 1e4 + 0.1 * 2e4, rel=1e-6)
    assert np.all(np.isfinite(dx)) and dx.dtype == np.float32


def test_l2svm_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.5]])
    y = np.array([2, 0])
    # Row 0, targets (-1, -1, +1): margins max(0, 1 + 1) = 2, max(0, 1 + 2) = 3, max(0, 1 - 3)
    # = 0 -> 4 + 9. Row 1, targets (+1, -1, -1): 0, max(0, 1 - 1) = 0, max(0, 1 + 0.5) = 1.5.
    loss, dx = LOSSES["l2svm"](x, y)
    assert loss == pytest.approx((13 + 2.25) / 2)
    # dx = -2 t m / N
    np.testing.assert_allclose(dx, [[2, 3, 0], [0, 0, 1.5]])
    assert LOSSES["l2svm"](x.astype(np.float32), y)[1].dtype == np.float32
