"""Classification and regression losses on a batch of scores.

Each takes scores x of shape (N, C) and returns (loss, dx): the mean loss over the batch as a
Python float and its gradient with respect to x, shaped and typed like x.
"""

import numpy as np

from nnctl.registry import Registry


def softmax_loss(x, y):
    """Cross-entropy of the softmax of the scores; stable for scores of any size.

    Inputs: x (N, C) scores; y (N,) integer labels in 0..C-1.
    Returns (loss, dx): loss = -mean_i log softmax(x_i)[y_i]; dx (N, C).
    """
    N = x.shape[0]
    rows = np.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)  # the largest exponent is exp(0): no overflow
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    log_probs_true = shifted[rows, y] - np.log(sums[:, 0])
    loss = -float(log_probs_true.mean())
    dx = exp / sums
    dx[rows, y] -= 1
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


LOSSES = Registry("loss", {"softmax": softmax_loss, "svm": svm_loss, "mse": mse_loss})
