"""Classification and regression losses on a batch of scores.

Each takes scores x of shape (N, C) and returns (loss, dx): the mean loss over the batch as a
Python float and its gradient with respect to x, shaped and typed like x.
"""

import numpy as np

from nnctl.registry import Registry


def softmax_loss(x, y, smoothing=0.0):
    """Cross-entropy of the softmax of the scores; stable for scores of any size.

    Inputs: x (N, C) scores; y (N,) integer labels in 0..C-1; smoothing eps in [0, 1): label
    smoothing (Szegedy et al. 2016, section 7), the target of row i is
    t_i = (1 - eps) * onehot(y_i) + eps / C instead of onehot(y_i).
    Returns (loss, dx): loss = -mean_i sum_j t_ij log softmax(x_i)_j; dx = (softmax(x) - t) / N,
    (N, C). With eps = 0 this is -mean_i log softmax(x_i)[y_i].
    """
    N, C = x.shape
    rows = np.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)  # the largest exponent is exp(0): no overflow
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    log_sums = np.log(sums[:, 0])
    loss = -float((1 - smoothing) * (shifted[rows, y] - log_sums).mean())
    if smoothing:  # the uniform part: -eps/C * sum_j log p_ij = -eps * (mean_j shifted - log sum)
        loss -= float(smoothing * (shifted.mean(axis=1) - log_sums).mean())
    dx = exp / sums
    if smoothing:
        dx -= smoothing / C
    dx[rows, y] -= 1 - smoothing
    dx /= N
    return loss, dx


def svm_loss(x, y):
    """Multiclass hinge loss (Weston-Watkins / the course's SVM) with margin 1.

    Inputs: x (N, C) scores; y (N,) integer labels.
    Returns (loss, dx): loss = mean_i sum_{j != y_i} max(0, x_ij - x_iy_i + 1); dx (N, C).
    """
    N = x.shape[0]
    rows = np.arange(N)
    correct = x[rows, y][:, None]
    margins = np.maximum(0, x - correct + 1)
    margins[rows, y] = 0
    loss = float(margins.sum()) / N
    positive = (margins > 0).astype(x.dtype)
    positive[rows, y] = -positive.sum(axis=1)
    positive /= N
    return loss, positive


def l2svm_loss(x, y):
    """One-vs-all squared hinge: the L2-SVM of Coates, Lee & Ng (2011) and Tang (2013).

    Each class c is a binary SVM with target t_ic = +1 if y_i = c, else -1.
    Inputs: x (N, C) scores; y (N,) integer labels.
    Returns (loss, dx): loss = mean_i sum_c max(0, 1 - t_ic x_ic)^2;
    dx = -2 t * max(0, 1 - t x) / N, (N, C). Smooth, unlike the hinge of svm_loss.
    """
    N = x.shape[0]
    targets = np.full_like(x, -1)
    targets[np.arange(N), y] = 1
    margins = np.maximum(0, 1 - targets * x)
    loss = float(np.vdot(margins, margins)) / N
    margins *= targets
    margins *= -2 / N
    return loss, margins


def mse_loss(x, y):
    """Mean squared error, L = 1/(2N) * sum_i ||x_i - t_i||^2.

    Inputs: x (N, C) predictions; y either (N,) integer labels (targets are their one-hot
    vectors) or float targets shaped like x (used as they are).
    Returns (loss, dx): dx = (x - t) / N, shaped like x.
    """
    N = x.shape[0]
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):
        targets = np.zeros_like(x)
        targets[np.arange(N), y] = 1
    else:
        if y.shape != x.shape:
            raise ValueError(
                f"float targets must be shaped like the scores {x.shape}, got {y.shape}"
            )
        targets = y.astype(x.dtype, copy=False)
    diff = x - targets
    loss = 0.5 * float(np.sum(diff * diff)) / N
    return loss, diff / N


LOSSES = Registry(
    "loss", {"softmax": softmax_loss, "svm": svm_loss, "l2svm": l2svm_loss, "mse": mse_loss}
)
