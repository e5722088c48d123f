"""First-order update rules with the course's contract.

Each rule is `rule(w, dw, config=None) -> (next_w, config)`: w and dw are arrays of one shape,
config a dict of hyperparameters and the rule's state (filled with defaults on first use and
updated on every call so the caller can pass it back in next time).

For speed the update happens in place, as the course's sgd does: next_w is w itself, and the
state arrays in config are updated in place too, with fused scaled adds (nnctl.nn.blas). A
parameter-sized array is then written once or twice per step instead of a dozen times (the
update is memory-bound). dw is never modified.

Defaults: learning_rate 1e-2; momentum 0.9; rmsprop decay_rate 0.99; adam beta1 0.9,
beta2 0.999; epsilon 1e-8; adamw weight_decay 1e-2. State keys: velocity (sgd_momentum),
cache (rmsprop, adagrad), m, v, t (adam, adamw).
"""

import math

import numpy as np

from nnctl.nn.blas import axpy
from nnctl.registry import Registry


def _state(config, key, w):
    """The state array config[key] (zeros like w on first use)."""
    value = config.get(key)
    if value is None:
        value = config[key] = np.zeros_like(w)
    return value


def sgd(w, dw, config=None):
    """Plain stochastic gradient descent: w -= learning_rate * dw."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    axpy(-float(config["learning_rate"]), dw, w)
    return w, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: v = momentum * v - learning_rate * dw; w += v."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = _state(config, "velocity", w)
    v *= float(config["momentum"])
    axpy(-float(config["learning_rate"]), dw, v)
    axpy(1.0, v, w)
    return w, config


def _scaled_square(dw, scale):
    """scale * dw**2 in one temporary array."""
    square = np.multiply(dw, dw)
    square *= scale
    return square


def rmsprop(w, dw, config=None):
    """RMSProp (Tieleman & Hinton, 2012): a moving average of squared gradients scales the step.

    cache = decay_rate * cache + (1 - decay_rate) * dw^2;
    w -= learning_rate * dw / (sqrt(cache) + epsilon).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    decay = float(config["decay_rate"])
    cache = _state(config, "cache", w)
    cache *= decay
    cache += _scaled_square(dw, 1 - decay)
    _apply_scaled_step(w, dw, cache, float(config["learning_rate"]), float(config["epsilon"]))
    return w, config


def _apply_scaled_step(w, numerator, second_moment, step_size, epsilon):
    """w -= step_size * numerator / (sqrt(second_moment) + epsilon), with one temporary."""
    denom = np.sqrt(second_moment)
    denom += epsilon
    np.divide(numerator, denom, out=denom)
    axpy(-step_size, denom, w)


def adam(w, dw, config=None):
    """Adam (Kingma & Ba, 2015) with bias correction; t is incremented before it is used.

    m = beta1 * m + (1 - beta1) * dw; v = beta2 * v + (1 - beta2) * dw^2;
    w -= learning_rate * m_hat / (sqrt(v_hat) + epsilon), with m_hat = m / (1 - beta1^t) and
    v_hat = v / (1 - beta2^t). Computed in the paper's equivalent form (end of its section 2):
    w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon * sqrt(1 - beta2^t)).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    m = _state(config, "m", w)
    v = _state(config, "v", w)
    t = config["t"] = config.get("t", 0) + 1
    beta1, beta2 = float(config["beta1"]), float(config["beta2"])
    m *= beta1
    axpy(1 - beta1, dw, m)
    v *= beta2
    v += _scaled_square(dw, 1 - beta2)
    correction = math.sqrt(1 - beta2**t)
    step_size = float(config["learning_rate"]) * correction / (1 - beta1**t)
    _apply_scaled_step(w, m, v, step_size, float(config["epsilon"]) * correction)
    return w, config


def adamw(w, dw, config=None):
    """Adam with decoupled weight decay (Loshchilov & Hutter, ICLR 2019, algorithm 2).

    w -= learning_rate * weight_decay * w, then the Adam step of `adam` on dw (the decay
    is not part of the gradient, so it is not rescaled by Adam's second moment). The decay is
    scaled by the current learning rate, as in torch.optim.AdamW, so a schedule shrinks both.
    Defaults as adam, weight_decay 1e-2; state m, v, t as adam.
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("weight_decay", 1e-2)
    decay = float(config["learning_rate"]) * float(config["weight_decay"])
    if decay:
        w *= 1 - decay
    return adam(w, dw, config)


def adagrad(w, dw, config=None):
    """AdaGrad (Duchi et al., 2011): cache += dw^2; w -= lr * dw / (sqrt(cache) + eps)."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    cache = _state(config, "cache", w)
    cache += dw * dw
    _apply_scaled_step(w, dw, cache, float(config["learning_rate"]), float(config["epsilon"]))
    return w, config


UPDATE_RULES = Registry(
    "update rule",
    {
        "sgd": sgd,
        "sgd_momentum": sgd_momentum,
        "rmsprop": rmsprop,
        "adam": adam,
        "adamw": adamw,
        "adagrad": adagrad,
    },
)
