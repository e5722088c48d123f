"""FullyConnectedNet and TwoLayerNet: numeric gradients, hand-set parameters, overfitting."""

import itertools

import numpy as np
import pytest

from nnctl.errors import ConfigError, ModelError, UserInputError
from nnctl.models import (
    FullyConnectedNet,
    TwoLayerNet,
    build_model,
    model_from_arrays,
    model_to_arrays,
)
from nnctl.nn.gradcheck import eval_numerical_gradient
from nnctl.nn.layers import ACTIVATIONS
from nnctl.nn.losses import LOSSES
from nnctl.nn.optim import sgd
from tests.helpers import assert_grad_close

# float64, h = 1e-5: smooth paths give ~1e-8 or better. Piecewise-linear units and the hinge
# loss have kinks that a +-h step can straddle, which can cost a few digits; 1e-5 still
# fails any real mistake in a backward rule (those give errors of 1e-2 and more).
GRAD_TOL = 1e-5

COMBOS = list(
    itertools.product(
        [None, "batchnorm", "layernorm"], [0.0, 0.3], sorted(ACTIVATIONS), sorted(LOSSES)
    )
)


@pytest.mark.parametrize("normalization,dropout,activation,loss", COMBOS)
@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_gradients_match_numeric(normalization, dropout, activation, loss, reg, rng):
    N, D, C = 6, 8, 4
    X = rng.standard_normal((N, D))
    y = rng.integers(C, size=N)
    model = FullyConnectedNet(
        [7, 5],
        input_dim=D,
        num_classes=C,
        dropout=dropout,
        normalization=normalization,
        reg=reg,
        weight_scale=0.5,
        activation=activation,
        loss=loss,
        dtype=np.float64,
        seed=1,
    )
    # An int seed makes every call draw the same dropout mask, so the loss is a fixed function.
    model.dropout_param["seed"] = 7
    loss_value, grads = model.loss(X, y)
    assert np.isfinite(loss_value)
    assert set(grads) == set(model.params)
    for name, param in model.params.items():
        if (
            normalization == "batchnorm"
            and name[0] == "b"
            and name[1:].isdigit()
            and name != f"b{model.num_layers}"
        ):
            # batchnorm subtracts the batch mean, cancelling a hidden bias: its gradient is 0.
            np.testing.assert_allclose(grads[name], 0, atol=1e-10)
            continue
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, verbose=False)
        assert_grad_close(num, grads[name], rtol=GRAD_TOL, name=name)


def test_two_layer_net_with_hand_set_parameters():
    N, D, H, C = 3, 5, 50, 7
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    y = np.array([0, 5, 1])
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, dtype=np.float64)
    assert {k: v.shape for k, v in model.params.items()} == {
        "W1": (D, H),
        "b1": (H,),
        "W2": (H, C),
        "b2": (C,),
    }
    W1 = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    b1 = np.linspace(-0.1, 0.9, num=H)
    W2 = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    b2 = np.linspace(-0.9, 0.1, num=C)
    model.params.update(W1=W1, b1=b1, W2=W2, b2=b2)

    # The independent reference: the network written out in plain NumPy.
    hidden = np.maximum(X @ W1 + b1, 0)
    scores = hidden @ W2 + b2
    np.testing.assert_allclose(model.loss(X), scores, rtol=1e-12)
    log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    data_loss = -log_probs[np.arange(N), y].mean()
    assert model.loss(X, y)[0] == pytest.approx(data_loss, rel=1e-12)
    model.reg = 1.0  # read at call time
    reg_loss = 0.5 * (np.sum(W1**2) + np.sum(W2**2))
    assert model.loss(X, y)[0] == pytest.approx(data_loss + reg_loss, rel=1e-12)


def test_three_layer_net_hand_set_svm_and_mse():
    N, dims = 4, [6, 5, 4, 3]
    X = np.linspace(-1, 1, N * dims[0]).reshape(N, dims[0])
    y = np.array([2, 0, 1, 2])
    params = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True), start=1):
        params[f"W{i}"] = np.linspace(-0.5 + 0.1 * i, 0.5, a * b).reshape(a, b)
        params[f"b{i}"] = np.linspace(-0.2, 0.2, b)
    h1 = np.tanh(X @ params["W1"] + params["b1"])
    h2 = np.tanh(h1 @ params["W2"] + params["b2"])
    scores = h2 @ params["W3"] + params["b3"]
    correct = scores[np.arange(N), y][:, None]
    margins = np.maximum(0, scores - correct + 1)
    svm = (margins.sum() - N) / N  # each row's own class contributes exactly 1
    onehot = np.eye(3)[y]
    mse = 0.5 * np.sum((scores - onehot) ** 2) / N
    for loss, expected in (("svm", svm), ("mse", mse)):
        model = FullyConnectedNet(
            [5, 4], input_dim=6, num_classes=3, activation="tanh", loss=loss, dtype=np.float64
        )
        model.params.update(params)
        np.testing.assert_allclose(model.loss(X), scores, rtol=1e-12)
        assert model.loss(X, y)[0] == pytest.approx(expected, rel=1e-12)


def _overfit(model, X, y, epochs=20, batch_size=25, learning_rate=1e-2):
    """Plain minibatch SGD in order, the course's overfitting check."""
    configs = {name: {"learning_rate": learning_rate} for name in model.params}
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            _, grads = model.loss(X[start : start + batch_size], y[start : start + batch_size])
            for name in model.params:
                model.params[name], configs[name] = sgd(
                    model.params[name], grads[name], configs[name]
                )
    return np.mean(model.predict(X) == y)


@pytest.mark.parametrize(
    "hidden_dims,weight_scale,learning_rate", [([100, 100], 1e-1, 1e-1), ([100] * 4, 1e-1, 2e-1)]
)
def test_deep_nets_overfit_fifty_examples(hidden_dims, weight_scale, learning_rate, rng):
    X = rng.standard_normal((50, 3 * 8 * 8)).astype(np.float32)
    y = rng.integers(10, size=50)  # random labels: only memorisation gets 100%
    model = FullyConnectedNet(
        hidden_dims, input_dim=X.shape[1], num_classes=10, weight_scale=weight_scale, seed=0
    )
    assert _overfit(model, X, y, learning_rate=learning_rate) == 1.0


def test_same_seed_same_model_and_losses(rng):
    X, y = rng.standard_normal((10, 12)), rng.integers(3, size=10)

    def make(seed):
        return FullyConnectedNet(
            [9, 8], input_dim=12, num_classes=3, dropout=0.5, normalization="batchnorm", seed=seed
        )

    a, b, c = make(4), make(4), make(5)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    # Dropout masks come from the same Generator, so a sequence of losses repeats exactly.
    assert [a.loss(X, y)[0] for _ in range(3)] == [b.loss(X, y)[0] for _ in range(3)]


def test_float32_kept_through_forward_and_backward(rng):
    model = FullyConnectedNet(
        [6, 5], input_dim=4, num_classes=3, normalization="layernorm", dropout=0.1, seed=0
    )
    X = rng.standard_normal((5, 2, 2))  # float64 and 3-D input: cast once and flattened
    loss, grads = model.loss(X, np.array([0, 1, 2, 0, 1]))
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert model.loss(X).dtype == np.float32


def test_initialisations(rng):
    def std(init, fan_in=400, fan_out=300):
        model = FullyConnectedNet(
            [fan_out], input_dim=fan_in, num_classes=2, init=init, weight_scale=0.03, seed=1
        )
        return model.params["W1"].std()

    assert std(None) == pytest.approx(0.03, rel=0.02)
    assert std("he") == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert std("xavier") == pytest.approx(np.sqrt(2 / 700), rel=0.02)
    model = FullyConnectedNet([3], input_dim=2, num_classes=2, normalization="batchnorm")
    np.testing.assert_array_equal(model.params["b1"], 0)
    np.testing.assert_array_equal(model.params["gamma1"], 1)
    np.testing.assert_array_equal(model.params["beta1"], 0)
    assert "gamma2" not in model.params  # the output layer is never normalised


def test_linear_classifier_has_one_layer(rng):
    model = FullyConnectedNet([], input_dim=10, num_classes=3, loss="svm", dtype=np.float64)
    assert set(model.params) == {"W1", "b1"}
    X, y = rng.standard_normal((4, 10)), np.array([0, 2, 1, 2])
    model.params["b1"] = np.array([0.1, -0.2, 0.3])
    scores = X @ model.params["W1"] + model.params["b1"]
    np.testing.assert_allclose(model.loss(X), scores, rtol=1e-12)
    margins = np.maximum(0, scores - scores[np.arange(4), y][:, None] + 1)
    loss, grads = model.loss(X, y)
    assert loss == pytest.approx((margins.sum() - 4) / 4, rel=1e-12)
    for name, param in model.params.items():
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, verbose=False)
        assert_grad_close(num, grads[name], rtol=GRAD_TOL, name=name)


def test_scores_are_computed_in_test_mode(rng):
    """Without labels: no dropout, and batchnorm normalises with its running averages."""
    N, D, H, C = 5, 4, 6, 3
    X, y = rng.standard_normal((N, D)), rng.integers(C, size=N)
    model = FullyConnectedNet(
        [H],
        input_dim=D,
        num_classes=C,
        dropout=0.5,
        normalization="batchnorm",
        dtype=np.float64,
        seed=0,
    )
    model.loss(X, y)  # a training call first: the next call must switch back to test mode
    p = model.params
    p.update(
        b1=rng.standard_normal(H),
        gamma1=rng.standard_normal(H) + 1,
        beta1=rng.standard_normal(H),
        b2=rng.standard_normal(C),
    )
    mean, var = rng.standard_normal(H), rng.random(H) + 0.5
    model.norm_params[0].update(running_mean=mean, running_var=var)

    # The independent reference: the network written out in plain NumPy.
    hidden = np.maximum(
        (X @ p["W1"] + p["b1"] - mean) / np.sqrt(var + 1e-5) * p["gamma1"] + p["beta1"], 0
    )
    expected = hidden @ p["W2"] + p["b2"]
    np.testing.assert_allclose(model.loss(X), expected, rtol=1e-12)
    np.testing.assert_allclose(model.loss(X), expected, rtol=1e-12)  # no mask drawn
    np.testing.assert_array_equal(model.norm_params[0]["running_mean"], mean)  # nor learned
    np.testing.assert_array_equal(model.predict(X, batch_size=2), expected.argmax(axis=1))


def test_arrays_round_trip_with_every_setting_and_batchnorm_statistics(rng):
    settings = {
        "hidden_dims": [5, 4],
        "dropout": 0.3,
        "normalization": "batchnorm",
        "reg": 0.2,
        "weight_scale": 0.05,
        "init": "xavier",
        "activation": "tanh",
        "loss": "svm",
        "dtype": np.float64,
    }  # none of them the default
    X, y = rng.standard_normal((20, 6)), rng.integers(3, size=20)
    model = FullyConnectedNet(input_dim=6, num_classes=3, seed=2, **settings)
    model.loss(X, y)  # one train step moves the running averages
    arrays = model_to_arrays(model)
    assert {"running_mean1", "running_var1", "running_mean2", "running_var2"} <= set(arrays)
    rebuilt = model_from_arrays(model.spec(), arrays)
    for key, value in settings.items():
        assert getattr(rebuilt, "loss_name" if key == "loss" else key) == value, key
    assert (rebuilt.input_dim, rebuilt.num_classes) == (6, 3)
    np.testing.assert_array_equal(rebuilt.loss(X), model.loss(X))
    rebuilt.dropout_param["seed"] = model.dropout_param["seed"] = 5  # the same dropout mask
    assert rebuilt.loss(X, y)[0] == model.loss(X, y)[0]  # the same loss and regularisation


def test_build_model_from_config():
    model = build_model(
        {"type": "mlp", "hidden_dims": [4], "activation": "tanh", "dtype": "float64"},
        input_dim=3,
        num_classes=2,
    )
    assert isinstance(model, FullyConnectedNet) and model.dtype == np.float64
    assert build_model({"type": "knn", "k": [5, 3]}, 3, 2).k == 3
    with pytest.raises(UserInputError, match="unknown model type .cnn."):
        build_model({"type": "cnn"}, 3, 2)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"hidden_dims": [0]}, "positive"),
        ({"dropout": 1.0}, "dropout"),
        ({"normalization": "groupnorm"}, "unknown normalization"),
        ({"activation": "gelu"}, "unknown activation"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"init": "lecun"}, "unknown init"),
        ({"dtype": np.int32}, "float32 or float64"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    kwargs = {"hidden_dims": [3], **kwargs}
    with pytest.raises((ModelError, ConfigError), match=message):
        FullyConnectedNet(input_dim=2, num_classes=2, **kwargs)


def test_missing_saved_array_is_reported():
    model = FullyConnectedNet([3], input_dim=2, num_classes=2)
    arrays = model_to_arrays(model)
    del arrays["W2"]
    with pytest.raises(ModelError, match="missing arrays: W2"):
        model_from_arrays(model.spec(), arrays)


def test_label_smoothing_changes_the_loss_as_the_softmax_loss_says(rng):
    X, y = rng.standard_normal((10, 4)), rng.integers(3, size=10)
    kwargs = {"input_dim": 4, "num_classes": 3, "reg": 0.3, "dtype": np.float64}
    plain = FullyConnectedNet([5], seed=1, **kwargs)
    smooth = FullyConnectedNet([5], seed=1, label_smoothing=0.2, **kwargs)
    scores = plain.loss(X)
    reg = 0.5 * 0.3 * sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2"))
    assert smooth.loss(X, y)[0] == pytest.approx(
        LOSSES["softmax"](scores, y, smoothing=0.2)[0] + reg, rel=1e-12
    )
    assert plain.loss(X, y)[0] == pytest.approx(LOSSES["softmax"](scores, y)[0] + reg, rel=1e-12)
    np.testing.assert_array_equal(smooth.loss(X), scores)  # scores do not depend on it

    def f(_):
        return smooth.loss(X, y)[0]

    grads = smooth.loss(X, y)[1]
    for name in ("W1", "b2"):
        numeric = eval_numerical_gradient(f, smooth.params[name], verbose=False)
        assert_grad_close(numeric, grads[name], GRAD_TOL, name=name)
    rebuilt = model_from_arrays(smooth.spec(), model_to_arrays(smooth))
    assert rebuilt.label_smoothing == 0.2
    with pytest.raises(ModelError, match="needs the softmax loss"):
        FullyConnectedNet([5], loss="svm", label_smoothing=0.1, input_dim=4, num_classes=3)
