"""Update rules: one step worked out by hand, state kept between calls, dtype preserved."""

import math

import numpy as np
import pytest

from nnctl.errors import ConfigError
from nnctl.nn import optim

W0 = np.array([1.0, -2.0, 0.5])
DW0 = np.array([0.1, 0.4, -2.0])
W, DW = W0, DW0  # read-only references for expected values


def fresh():
    """A new copy of the weights: rules update them in place."""
    return W0.copy()


def test_sgd_one_step_in_place():
    w = fresh()
    next_w, config = optim.sgd(w, DW, {"learning_rate": 0.5})
    np.testing.assert_allclose(next_w, [0.95, -2.2, 1.5])
    assert next_w is w  # updated in place, as the course's sgd does
    assert optim.sgd(fresh(), DW)[1]["learning_rate"] == 1e-2


@pytest.mark.parametrize("name", sorted(optim.UPDATE_RULES))
def test_rules_never_modify_the_gradient(name):
    dw = DW0.copy()
    w, config = optim.UPDATE_RULES[name](fresh(), dw)
    optim.UPDATE_RULES[name](w, dw, config)
    np.testing.assert_array_equal(dw, DW0)


def test_sgd_momentum_two_steps():
    config = {"learning_rate": 0.1, "momentum": 0.5}
    w1, config = optim.sgd_momentum(fresh(), DW, config)
    # v = -0.1 * dw; w + v
    np.testing.assert_allclose(w1, [0.99, -2.04, 0.7])
    before = w1.copy()
    w2, config = optim.sgd_momentum(w1, DW, config)
    # v = 0.5 * (-0.1 dw) - 0.1 dw = -0.15 dw
    np.testing.assert_allclose(config["velocity"], [-0.015, -0.06, 0.3])
    np.testing.assert_allclose(w2, before + config["velocity"])


def test_rmsprop_one_step():
    config = {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-8}
    w1, config = optim.rmsprop(fresh(), DW, config)
    cache = [0.1 * d * d for d in DW]
    np.testing.assert_allclose(config["cache"], cache)
    expected = [w - 0.01 * d / (math.sqrt(c) + 1e-8) for w, d, c in zip(W, DW, cache, strict=True)]
    np.testing.assert_allclose(w1, expected)


def test_adagrad_accumulates():
    config = {"learning_rate": 0.1}
    w1, config = optim.adagrad(fresh(), DW, config)
    np.testing.assert_allclose(w1, W - 0.1 * DW / (np.abs(DW) + 1e-8))
    before = w1.copy()
    w2, config = optim.adagrad(w1, DW, config)
    np.testing.assert_allclose(config["cache"], 2 * DW**2)
    expected = [
        w - 0.1 * d / (math.sqrt(2 * d * d) + 1e-8) for w, d in zip(before, DW, strict=True)
    ]
    np.testing.assert_allclose(w2, expected)


def test_adam_increments_t_before_use():
    config = {"learning_rate": 0.1}
    w1, config = optim.adam(fresh(), DW, config)
    assert config["t"] == 1
    # With t = 1 the bias correction makes m_hat = dw and v_hat = dw^2 exactly, so the first
    # step is lr * sign(dw) (up to epsilon). Using t = 0 would divide by zero.
    np.testing.assert_allclose(w1, W - 0.1 * np.sign(DW), rtol=1e-6)
    np.testing.assert_allclose(config["m"], 0.1 * DW)
    np.testing.assert_allclose(config["v"], 0.001 * DW**2)
    before = w1.copy()
    w2, config = optim.adam(w1, DW, config)
    assert config["t"] == 2
    m = 0.9 * 0.1 * DW + 0.1 * DW
    v = 0.999 * 0.001 * DW**2 + 0.001 * DW**2
    expected = before - 0.1 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(w2, expected)


def test_defaults_follow_the_design():
    assert optim.sgd_momentum(fresh(), DW)[1]["momentum"] == 0.9
    assert optim.rmsprop(fresh(), DW)[1]["decay_rate"] == 0.99
    config = optim.adam(fresh(), DW)[1]
    assert (config["beta1"], config["beta2"], config["epsilon"]) == (0.9, 0.999, 1e-8)
    for rule in optim.UPDATE_RULES.values():
        assert rule(fresh(), DW)[1]["learning_rate"] == 1e-2


@pytest.mark.parametrize("name", sorted(optim.UPDATE_RULES))
def test_rules_keep_float32_and_descend(name, rng):
    w = rng.standard_normal(50).astype(np.float32)
    config = {"learning_rate": np.float64(1e-2)}  # a float64 scalar must not upcast the weights
    for _ in range(100):
        w, config = optim.UPDATE_RULES[name](w, 2 * w, config)  # gradient of sum(w^2)
    assert w.dtype == np.float32
    assert float(np.sum(w * w)) < 50 * 0.9


def test_unknown_rule_lists_valid_names():
    with pytest.raises(
        ConfigError, match="unknown update rule 'adamax'; valid: adagrad, adam, adamw, rmsprop"
    ):
        optim.UPDATE_RULES["adamax"]


def test_adamw_decays_the_weights_apart_from_the_adam_step():
    w = fresh()
    config = {"learning_rate": 0.1, "weight_decay": 0.5}
    next_w, config = optim.adamw(w, DW, config)
    # Decay first: w * (1 - 0.1 * 0.5) = (0.95, -1.9, 0.475); then Adam's first step, whose
    # bias-corrected m / sqrt(v) is dw / |dw| = sign(dw): -0.1 * (1, 1, -1).
    np.testing.assert_allclose(next_w, [0.85, -2.0, 0.575], rtol=1e-6)
    assert next_w is w and config["t"] == 1
    # L2 folded into the gradient (dw + 0.5 w) would have given sign(dw + 0.5 w) steps from
    # the undecayed weights: (0.9, -1.9, 0.6). Decoupled, it is not.
    assert not np.allclose(next_w, [0.9, -1.9, 0.6])
    # Without decay it is Adam, exactly.
    plain = optim.adam(fresh(), DW, {"learning_rate": 0.1})[0]
    np.testing.assert_array_equal(
        optim.adamw(fresh(), DW, {"learning_rate": 0.1, "weight_decay": 0.0})[0], plain
    )
    assert optim.adamw(fresh(), DW)[1]["weight_decay"] == 1e-2
