"""First-order update rules with the course's contract.

Each rule is `rule(w, dw, config=None) -> (next_w, config)`: w and dw are arrays of one shape,
config a dict of hyperparameters and the rule's state (filled with defaults on first use and
updated on every call so the caller can pass it back in next time). w itself is not modified.

Defaults: learning_rate 1e-2; momentum 0.9; rmsprop decay_rate 0.99; adam beta1 0.9,
beta2 0.999; epsilon 1e-8. State keys: velocity (sgd_momentum), cache (rmsprop, adagrad),
m, v, t (adam).
"""

import numpy as np

from nnctl.registry import Registry


def sgd(w, dw, config=None):
    """Plain stochastic gradient descent: next_w = w - learning_rate * dw."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    return w - float(config["learning_rate"]) * dw, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: v = momentum * v - learning_rate * dw; next_w = w + v."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity")
    if v is None:
        v = np.zeros_like(w)
    v = float(config["momentum"]) * v - float(config["learning_rate"]) * dw
    config["velocity"] = v
    return w + v, config


def rmsprop(w, dw, config=None):
    """RMSProp (Tieleman & Hinton, 2012): a moving average of squared gradients scales the step.

    cache = decay_rate * cache + (1 - decay_rate) * dw^2;
    next_w = w - learning_rate * dw / (sqrt(cache) + epsilon).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache")
    if cache is None:
        cache = np.zeros_like(w)
    decay = float(config["decay_rate"])
    cache = decay * cache + (1 - decay) * (dw * dw)
    config["cache"] = cache
    return w - float(config["learning_rate"]) * dw / (
        np.sqrt(cache) + float(config["epsilon"])
    ), config


def adam(w, dw, config=None):
    """Adam (Kingma & Ba, 2015) with bias correction; t is incremented before it is used.

    m = beta1 * m + (1 - beta1) * dw; v = beta2 * v + (1 - beta2) * dw^2;
    next_w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon), with
    m_hat = m / (1 - beta1^t) and v_hat = v / (1 - beta2^t).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    m = config.get("m")
    v = config.get("v")
    if m is None:
        m = np.zeros_like(w)
    if v is None:
        v = np.zeros_like(w)
    t = config.get("t", 0) + 1
    beta1, beta2 = float(config["beta1"]), float(config["beta2"])
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * (dw * dw)
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    config.update(m=m, v=v, t=t)
    return w - float(config["learning_rate"]) * m_hat / (
        np.sqrt(v_hat) + float(config["epsilon"])
    ), config


def adagrad(w, dw, config=None):
    """AdaGrad (Duchi et al., 2011): cache += dw^2; next_w = w - lr * dw / (sqrt(cache) + eps)."""
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache")
    if cache is None:
        cache = np.zeros_like(w)
    cache = cache + dw * dw
    config["cache"] = cache
    return w - float(config["learning_rate"]) * dw / (
        np.sqrt(cache) + float(config["epsilon"])
    ), config


UPDATE_RULES = Registry(
    "update rule",
    {
        "sgd": sgd,
        "sgd_momentum": sgd_momentum,
        "rmsprop": rmsprop,
        "adam": adam,
        "adagrad": adagrad,
    },
)
