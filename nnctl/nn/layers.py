"""Layers as pure forward/backward function pairs (the course's layer API).

Every `*_forward` returns `(out, cache)`; the matching `*_backward` takes the upstream gradient
`dout` (shaped like `out`) and that cache and returns the gradients of the forward's inputs.
A backward never modifies its cache. Every function keeps the dtype it is given: float32 in,
float32 out (float64 is for gradient checks).
"""

import numpy as np

from nnctl.registry import Registry

# ---------------------------------------------------------------------------------------------
# Affine


def affine_forward(x, w, b, *, compute_dx=True):
    """Fully connected layer: out = x.reshape(N, D) @ w + b.

    Inputs:
    - x: (N, d_1, ..., d_k) with D = d_1 * ... * d_k, flattened per example
    - w: (D, M) weights
    - b: (M,) biases
    - compute_dx: keyword-only; False when the input is data whose gradient nobody needs
      (the first layer of a network), so the backward skips the (N, M) x (M, D) product.

    Returns (out, cache): out (N, M); cache (x, w, compute_dx) for affine_backward.
    """
    out = x.reshape(x.shape[0], -1) @ w
    out += b
    return out, (x, w, compute_dx)


def affine_backward(dout, cache):
    """Backward pass of affine_forward.

    Inputs: dout (N, M) upstream gradient; cache (x, w, compute_dx) from the forward.
    Returns (dx, dw, db): dx shaped like x (None when the forward was told compute_dx=False),
    dw (D, M), db (M,).
    """
    x, w, compute_dx = cache
    x2 = x.reshape(x.shape[0], -1)
    dw = x2.T @ dout
    db = dout.sum(axis=0)
    dx = (dout @ w.T).reshape(x.shape) if compute_dx else None
    return dx, dw, db


# ---------------------------------------------------------------------------------------------
# Activations (element-wise, any shape)


def relu_forward(x):
    """ReLU: max(0, x). Returns (out, cache) with cache = out (its sign is all backward needs)."""
    out = np.maximum(x, 0)
    return out, out


def relu_backward(dout, cache):
    """Backward of relu_forward: dout where the output was positive, 0 elsewhere."""
    return dout * (cache > 0)


def leaky_relu_forward(x, alpha=0.01):
    """Leaky ReLU: x where x > 0, alpha * x elsewhere. Returns (out, cache=(x, alpha))."""
    out = np.where(x > 0, x, x * alpha)
    return out, (x, alpha)


def leaky_relu_backward(dout, cache):
    """Backward of leaky_relu_forward: slope 1 for x > 0, alpha elsewhere."""
    x, alpha = cache
    return np.where(x > 0, dout, dout * alpha)


def _stable_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_forward(x):
    """Logistic sigmoid, finite for any |x|. Returns (out, cache=out)."""
    out = _stable_sigmoid(x)
    return out, out


def sigmoid_backward(dout, cache):
    """Backward of sigmoid_forward: dout * s * (1 - s)."""
    s = cache
    return dout * s * (1 - s)


def tanh_forward(x):
    """Hyperbolic tangent. Returns (out, cache=out)."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """Backward of tanh_forward: dout * (1 - tanh(x)^2)."""
    return dout * (1 - cache * cache)


def swish_forward(x):
    """Swish (SiLU): x * sigmoid(x). Returns (out, cache=(x, sigmoid(x)))."""
    s = _stable_sigmoid(x)
    return x * s, (x, s)


def swish_backward(dout, cache):
    """Backward of swish_forward: d/dx = s + x * s * (1 - s), with s = sigmoid(x)."""
    x, s = cache
    return dout * (s + x * s * (1 - s))


ACTIVATIONS = Registry(
    "activation",
    {
        "relu": (relu_forward, relu_backward),
        "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
        "sigmoid": (sigmoid_forward, sigmoid_backward),
        "tanh": (tanh_forward, tanh_backward),
        "swish": (swish_forward, swish_backward),
    },
)


# ---------------------------------------------------------------------------------------------
# Normalisation


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation over the batch axis (Ioffe & Szegedy, 2015).

    Inputs:
    - x: (N, D) data
    - gamma, beta: (D,) scale and shift
    - bn_param: dict with
      - mode: 'train' (normalise with the batch statistics) or 'test' (running statistics)
      - eps: added to the variance, default 1e-5
      - momentum: weight of the old running average, default 0.9
      - running_mean, running_var: (D,) arrays; created as 0 and 1 on first use.
    In train mode bn_param's running_mean and running_var are replaced by
    momentum * old + (1 - momentum) * batch statistic (the dict is updated, on purpose).

    Returns (out, cache): out (N, D); cache (xhat, gamma, inv_std) in train mode, None in test
    mode (the test-mode pass is not differentiated).
    """
    mode = bn_param.get("mode", "train")
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean")
    running_var = bn_param.get("running_var")
    if running_mean is None:
        running_mean = np.zeros(D, dtype=x.dtype)
    if running_var is None:
        running_var = np.ones(D, dtype=x.dtype)

    if mode == "train":
        mean = x.mean(axis=0)
        xhat = x - mean  # the deviations: squared for the variance (as x.var does), then scaled
        var = np.multiply(xhat, xhat).sum(axis=0) / x.shape[0]
        inv_std = 1 / np.sqrt(var + eps)
        xhat *= inv_std
        out = xhat * gamma + beta
        cache = (xhat, gamma, inv_std)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        out = (x - running_mean) / np.sqrt(running_var + eps) * gamma + beta
        cache = None
    else:
        raise ValueError(f"batchnorm mode must be 'train' or 'test', got {mode!r}")

    bn_param["running_mean"] = running_mean.astype(x.dtype, copy=False)
    bn_param["running_var"] = running_var.astype(x.dtype, copy=False)
    return out.astype(x.dtype, copy=False), cache


def _normalized_backward(dxhat, xhat, inv_std, axis):
    """Gradient through xhat = (x - mean) * inv_std, the statistics taken along `axis`.

    The closed form (sum over the n normalised values):
    dx = inv_std / n * (n * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)).
    """
    n = xhat.shape[axis]
    sum_d = dxhat.sum(axis=axis, keepdims=True)
    sum_dx = (dxhat * xhat).sum(axis=axis, keepdims=True)
    return (inv_std / n) * (n * dxhat - sum_d - xhat * sum_dx)


def batchnorm_backward(dout, cache):
    """Backward of train-mode batchnorm_forward, fully vectorised.

    Inputs: dout (N, D); cache (xhat, gamma, inv_std).
    Returns (dx (N, D), dgamma (D,), dbeta (D,)).
    """
    xhat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = _normalized_backward(dout * gamma, xhat, inv_std, axis=0)
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation: each example normalised over its own D features (Ba et al., 2016).

    Inputs: x (N, D); gamma, beta (D,); ln_param dict with optional eps (default 1e-5).
    Train and test mode are the same computation. Returns (out (N, D), cache).
    """
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    out = xhat * gamma + beta
    return out.astype(x.dtype, copy=False), (xhat, gamma, inv_std)


def layernorm_backward(dout, cache):
    """Backward of layernorm_forward. Returns (dx (N, D), dgamma (D,), dbeta (D,))."""
    xhat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dx = _normalized_backward(dout * gamma, xhat, inv_std, axis=1)
    return dx, dgamma, dbeta


NORMALIZATIONS = Registry(
    "normalization",
    {
        "batchnorm": (batchnorm_forward, batchnorm_backward),
        "layernorm": (layernorm_forward, layernorm_backward),
    },
)


# ---------------------------------------------------------------------------------------------
# Dropout


def dropout_forward(x, dropout_param):
    """Inverted dropout.

    Inputs:
    - x: data of any shape
    - dropout_param: dict with
      - p: probability of DROPPING each unit (0 keeps everything)
      - mode: 'train' drops and rescales the survivors by 1 / (1 - p); 'test' is the identity
      - seed: optional int (the same mask on every call) or numpy Generator (masks drawn from
        it in turn); without one, fresh entropy. NumPy's global random state is never used.

    Returns (out, cache): out shaped like x; cache (mask or None, dropout_param).
    """
    p = dropout_param["p"]
    mode = dropout_param.get("mode", "train")
    if not 0 <= p < 1:
        raise ValueError(f"dropout p must be in [0, 1), got {p}")
    if mode == "test" or p == 0:
        return x, (None, dropout_param)
    if mode != "train":
        raise ValueError(f"dropout mode must be 'train' or 'test', got {mode!r}")
    rng = np.random.default_rng(dropout_param.get("seed"))  # a Generator is used as it is
    keep = rng.random(x.shape, dtype=np.float32) >= p
    mask = keep * np.asarray(1 / (1 - p), dtype=x.dtype)
    return x * mask, (mask, dropout_param)


def dropout_backward(dout, cache):
    """Backward of dropout_forward: the same mask applied to dout."""
    mask, _ = cache
    return dout if mask is None else dout * mask


# ---------------------------------------------------------------------------------------------
# Sandwich layers: the blocks models are built from


def affine_relu_forward(x, w, b):
    """affine -> ReLU. Returns (out (N, M), cache)."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(dout, cache):
    """Backward of affine_relu_forward. Returns (dx, dw, db)."""
    fc_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), fc_cache)


def hidden_layer_forward(
    x,
    w,
    b,
    *,
    activation="relu",
    normalization=None,
    gamma=None,
    beta=None,
    norm_param=None,
    dropout_param=None,
    compute_dx=True,
):
    """One hidden block: affine -> [batchnorm | layernorm] -> activation -> [dropout].

    Inputs: x (N, d_1..d_k); w (D, M); b (M,); activation a name in ACTIVATIONS; normalization
    None or a name in NORMALIZATIONS, with gamma, beta (M,) and its norm_param dict;
    dropout_param a dropout_forward dict or None for no dropout; compute_dx as affine_forward.

    Returns (out (N, M), cache) for hidden_layer_backward.
    """
    act_forward, _ = ACTIVATIONS[activation]
    out, fc_cache = affine_forward(x, w, b, compute_dx=compute_dx)
    norm_cache = None
    if normalization is not None:
        norm_forward, _ = NORMALIZATIONS[normalization]
        out, norm_cache = norm_forward(out, gamma, beta, norm_param)
    out, act_cache = act_forward(out)
    drop_cache = None
    if dropout_param is not None:
        out, drop_cache = dropout_forward(out, dropout_param)
    return out, (fc_cache, normalization, norm_cache, activation, act_cache, drop_cache)


def hidden_layer_backward(dout, cache):
    """Backward of hidden_layer_forward.

    Returns (dx, dw, db, dgamma, dbeta); dgamma and dbeta are None without normalisation and
    dx is None when the forward had compute_dx=False.
    """
    fc_cache, normalization, norm_cache, activation, act_cache, drop_cache = cache
    if drop_cache is not None:
        dout = dropout_backward(dout, drop_cache)
    _, act_backward = ACTIVATIONS[activation]
    da = act_backward(dout, act_cache)
    dgamma = dbeta = None
    if normalization is not None:
        _, norm_backward = NORMALIZATIONS[normalization]
        da, dgamma, dbeta = norm_backward(da, norm_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta
