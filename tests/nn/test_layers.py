"""Layer tests: every backward against a centred numerical gradient in float64."""

import copy
import math

import numpy as np
import pytest

from nnctl.nn import layers as L
from nnctl.nn.gradcheck import eval_numerical_gradient_array, rel_error
from nnctl.nn.losses import mse_loss

# Centred differences with h=1e-5 on float64 give ~1e-9..1e-10 for smooth functions.
TOL = 1e-7


def away_from_zero(rng, shape, margin=1e-2):
    """Inputs whose |value| > margin, so ReLU's kink at 0 is never straddled by x +- h."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, margin + np.abs(x), x)


def check_dx(forward, backward, x, rng):
    """Assert backward(dout, cache) equals the numerical gradient of sum(forward(x) * dout)."""
    out, cache = forward(x)
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: forward(v)[0], x, dout)
    assert dx.shape == x.shape
    assert rel_error(dx, dx_num) < TOL


def test_affine_forward_hand_values():
    x = np.arange(6, dtype=np.float64).reshape(2, 1, 3)  # any trailing shape is flattened
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([0.5, -0.5])
    out, _ = L.affine_forward(x, w, b)
    # row 0 = [0, 1, 2]: [0 + 2 + .5, 1 + 2 - .5]; row 1 = [3, 4, 5]: [3 + 5 + .5, 4 + 5 - .5]
    np.testing.assert_allclose(out, [[2.5, 2.5], [8.5, 8.5]])


def test_affine_backward_numeric(rng):
    x = rng.standard_normal((7, 2, 3, 5))
    w = rng.standard_normal((30, 4))
    b = rng.standard_normal(4)
    out, cache = L.affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = L.affine_backward(dout, cache)
    assert (
        rel_error(
            dx, eval_numerical_gradient_array(lambda v: L.affine_forward(v, w, b)[0], x, dout)
        )
        < TOL
    )
    assert (
        rel_error(
            dw, eval_numerical_gradient_array(lambda v: L.affine_forward(x, v, b)[0], w, dout)
        )
        < TOL
    )
    assert (
        rel_error(
            db, eval_numerical_gradient_array(lambda v: L.affine_forward(x, w, v)[0], b, dout)
        )
        < TOL
    )
    assert dx.shape == x.shape


def test_affine_without_dx_skips_it(rng):
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), np.zeros(2)
    full = L.affine_backward(np.ones((3, 2)), L.affine_forward(x, w, b)[1])
    dx, dw, db = L.affine_backward(np.ones((3, 2)), L.affine_forward(x, w, b, compute_dx=False)[1])
    assert dx is None
    np.testing.assert_array_equal(dw, full[1])
    np.testing.assert_array_equal(db, full[2])


@pytest.mark.parametrize("name", sorted(L.ACTIVATIONS))
def test_activation_backward_numeric(name, rng):
    forward, backward = L.ACTIVATIONS[name]
    check_dx(forward, backward, away_from_zero(rng, (5, 7)), rng)


def test_activation_hand_values():
    x = np.array([-2.0, -0.5, 0.0, 3.0])
    np.testing.assert_allclose(L.relu_forward(x)[0], [0, 0, 0, 3])
    np.testing.assert_allclose(L.leaky_relu_forward(x)[0], [-0.02, -0.005, 0, 3])
    np.testing.assert_allclose(L.leaky_relu_forward(x, alpha=0.2)[0], [-0.4, -0.1, 0, 3])
    sig = [1 / (1 + math.exp(-v)) for v in x]
    np.testing.assert_allclose(L.sigmoid_forward(x)[0], sig)
    np.testing.assert_allclose(L.tanh_forward(x)[0], [math.tanh(v) for v in x])
    np.testing.assert_allclose(L.swish_forward(x)[0], [v * s for v, s in zip(x, sig, strict=True)])
    # The swish derivative of the issue: sigmoid(x) + x * sigmoid(x) * (1 - sigmoid(x)).
    expected = [s + v * s * (1 - s) for v, s in zip(x, sig, strict=True)]
    np.testing.assert_allclose(L.swish_backward(np.ones(4), L.swish_forward(x)[1]), expected)


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([-1e4, -800.0, 800.0, 1e4], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise"):  # overflow or inf/inf would raise here
        out, _ = L.sigmoid_forward(x)
        swish, _ = L.swish_forward(x)
    np.testing.assert_array_equal(out, [0, 0, 1, 1])
    np.testing.assert_array_equal(swish, [0, 0, 800, 1e4])
    assert out.dtype == np.float32


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="unknown activation 'gelu'.*leaky_relu.*relu"):
        L.ACTIVATIONS["gelu"]


def bn_train(x, gamma, beta):
    return L.batchnorm_forward(x, gamma, beta, {"mode": "train"})


def test_batchnorm_backward_numeric(rng):
    N, D = 6, 5
    x = 3 * rng.standard_normal((N, D)) + 2
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    out, cache = bn_train(x, gamma, beta)
    dout = rng.standard_normal((N, D))
    dx, dgamma, dbeta = L.batchnorm_backward(dout, cache)
    assert (
        rel_error(dx, eval_numerical_gradient_array(lambda v: bn_train(v, gamma, beta)[0], x, dout))
        < TOL
    )
    assert (
        rel_error(
            dgamma, eval_numerical_gradient_array(lambda v: bn_train(x, v, beta)[0], gamma, dout)
        )
        < TOL
    )
    assert (
        rel_error(
            dbeta, eval_numerical_gradient_array(lambda v: bn_train(x, gamma, v)[0], beta, dout)
        )
        < TOL
    )


def test_batchnorm_train_normalises_and_applies_gamma_beta(rng):
    x = 10 * rng.standard_normal((200, 3)) + 5
    out, _ = bn_train(x, np.ones(3), np.zeros(3))
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-7)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-4)
    out, _ = bn_train(x, np.array([1.0, 2.0, 3.0]), np.array([11.0, 12.0, 13.0]))
    np.testing.assert_allclose(out.mean(axis=0), [11, 12, 13], atol=1e-7)
    np.testing.assert_allclose(out.std(axis=0), [1, 2, 3], atol=1e-3)


def test_batchnorm_running_averages_serve_test_mode(rng):
    D = 4
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(D), np.zeros(D)
    for _ in range(200):
        L.batchnorm_forward(2.5 * rng.standard_normal((50, D)) + 7, gamma, beta, bn_param)
    # The running averages have found the data's mean 7 and variance 6.25 ...
    np.testing.assert_allclose(bn_param["running_mean"], 7, atol=0.3)
    np.testing.assert_allclose(bn_param["running_var"], 6.25, atol=1.0)
    # ... and test mode normalises with them, not with the statistics of the batch it is given
    # (a batch of one example would then come out as beta).
    mean, var = np.array([1.0, 2.0, 3.0, 4.0]), np.array([4.0, 9.0, 16.0, 25.0])
    bn_param.update(mode="test", running_mean=mean.copy(), running_var=var.copy())
    x = np.array([[3.0, 8.0, 3.0, -1.0]])
    gamma, beta = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.0, 0.0, 0.0])
    out, cache = L.batchnorm_forward(x, gamma, beta, bn_param)
    assert cache is None
    eps = 1e-5
    expected = [
        2 / math.sqrt(4 + eps) + 0.5,
        6 / math.sqrt(9 + eps) * 2,
        0.0,
        -5 / math.sqrt(25 + eps) * 4,
    ]
    np.testing.assert_allclose(out, [expected], rtol=1e-12)
    np.testing.assert_array_equal(bn_param["running_mean"], mean)  # test mode learns nothing
    np.testing.assert_array_equal(bn_param["running_var"], var)


def test_batchnorm_running_average_uses_momentum():
    x = np.array([[1.0, 2.0], [3.0, 6.0]])  # batch mean [2, 4], variance [1, 4]
    bn_param = {"mode": "train", "momentum": 0.75}
    L.batchnorm_forward(x, np.ones(2), np.zeros(2), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], [0.25 * 2, 0.25 * 4])
    np.testing.assert_allclose(bn_param["running_var"], [0.75 + 0.25 * 1, 0.75 + 0.25 * 4])


def test_layernorm_backward_numeric(rng):
    N, D = 4, 7
    x = 4 * rng.standard_normal((N, D)) - 1
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)

    def fwd(x_, g_, b_):
        return L.layernorm_forward(x_, g_, b_, {})[0]

    out, cache = L.layernorm_forward(x, gamma, beta, {})
    dout = rng.standard_normal((N, D))
    dx, dgamma, dbeta = L.layernorm_backward(dout, cache)
    assert (
        rel_error(dx, eval_numerical_gradient_array(lambda v: fwd(v, gamma, beta), x, dout)) < TOL
    )
    assert (
        rel_error(dgamma, eval_numerical_gradient_array(lambda v: fwd(x, v, beta), gamma, dout))
        < TOL
    )
    assert (
        rel_error(dbeta, eval_numerical_gradient_array(lambda v: fwd(x, gamma, v), beta, dout))
        < TOL
    )


def test_layernorm_normalises_each_example(rng):
    x = rng.standard_normal((3, 50)) * np.array([[1.0], [10.0], [100.0]]) + 4
    out, _ = L.layernorm_forward(x, np.ones(50), np.zeros(50), {})
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-7)
    np.testing.assert_allclose(out.std(axis=1), 1, atol=1e-3)


def test_dropout_backward_numeric(rng):
    x = rng.standard_normal((6, 9))
    param = {"p": 0.4, "mode": "train", "seed": 17}  # an int seed: the same mask every call
    check_dx(lambda v: L.dropout_forward(v, param), L.dropout_backward, x, rng)


def test_dropout_statistics_and_modes(rng):
    x = np.ones((400, 500), dtype=np.float32) + 1
    for p in (0.25, 0.6):
        out, _ = L.dropout_forward(x, {"p": p, "mode": "train", "seed": rng})
        assert out.dtype == np.float32
        assert abs((out != 0).mean() - (1 - p)) < 0.01
        assert abs(out.mean() - x.mean()) < 0.02  # inverted dropout keeps the expectation
        test_out, _ = L.dropout_forward(x, {"p": p, "mode": "test"})
        np.testing.assert_array_equal(test_out, x)


def test_dropout_seed_reproducible(rng):
    # (conftest checks for every test that NumPy's global random state is untouched)
    x = rng.standard_normal((20, 30))
    a, _ = L.dropout_forward(x, {"p": 0.5, "seed": 3})
    b, _ = L.dropout_forward(x, {"p": 0.5, "seed": 3})
    c, _ = L.dropout_forward(x, {"p": 0.5, "seed": 4})
    g1, _ = L.dropout_forward(x, {"p": 0.5, "seed": np.random.default_rng(9)})
    g2, _ = L.dropout_forward(x, {"p": 0.5, "seed": np.random.default_rng(9)})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(g1, g2)


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match="dropout p"):
        L.dropout_forward(np.ones(3), {"p": 1.0})


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("activation", sorted(L.ACTIVATIONS))
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_hidden_layer_sandwich_numeric(normalization, activation, p, rng):
    N, D, M = 5, 6, 4
    x = rng.standard_normal((N, 2, 3))
    w, b = rng.standard_normal((D, M)), rng.standard_normal(M)
    gamma, beta = rng.standard_normal(M) + 1, rng.standard_normal(M)
    drop = {"p": p, "mode": "train", "seed": 5} if p else None

    def fwd(x_, w_, b_, g_, be_):
        return L.hidden_layer_forward(
            x_,
            w_,
            b_,
            activation=activation,
            normalization=normalization,
            gamma=g_,
            beta=be_,
            norm_param={"mode": "train"},
            dropout_param=drop,
        )

    out, cache = fwd(x, w, b, gamma, beta)
    dout = rng.standard_normal(out.shape)
    dx, dw, db, dgamma, dbeta = L.hidden_layer_backward(dout, cache)
    args = [x, w, b, gamma, beta]
    grads = [dx, dw, db, dgamma, dbeta]
    checked = [0, 1, 3, 4] if normalization else [0, 1, 2]
    if normalization == "batchnorm":
        # The batch mean cancels the affine bias exactly: its true gradient is zero, which a
        # relative error cannot compare, so assert the zero instead.
        np.testing.assert_allclose(db, 0, atol=1e-12)
    elif normalization == "layernorm":
        checked.append(2)
    for i in checked:

        def f(v, i=i):
            a = list(args)
            a[i] = v
            return fwd(*a)[0]

        num = eval_numerical_gradient_array(f, args[i], dout)
        # ReLU-family kinks can be straddled by a pre-activation within h of 0; the random
        # inputs keep that unlikely, and the seed is fixed, so the bound stays tight.
        assert rel_error(grads[i], num) < 1e-6, f"parameter {i}"
    if not normalization:
        assert dgamma is None and dbeta is None


def test_affine_relu_matches_its_parts(rng):
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    out, cache = L.affine_relu_forward(x, w, b)
    np.testing.assert_allclose(out, np.maximum(x @ w + b, 0))
    dout = rng.standard_normal((3, 5))
    dx, dw, db = L.affine_relu_backward(dout, cache)
    dx_num = eval_numerical_gradient_array(lambda v: L.affine_relu_forward(v, w, b)[0], x, dout)
    assert rel_error(dx, dx_num) < TOL


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_dtype(dtype, rng):
    x = rng.standard_normal((8, 6)).astype(dtype)
    w = rng.standard_normal((6, 6)).astype(dtype)
    b = np.zeros(6, dtype=dtype)
    g, be = np.ones(6, dtype=dtype), np.zeros(6, dtype=dtype)
    for normalization in (None, "batchnorm", "layernorm"):
        for act in L.ACTIVATIONS:
            out, cache = L.hidden_layer_forward(
                x,
                w,
                b,
                activation=act,
                normalization=normalization,
                gamma=g,
                beta=be,
                norm_param={"mode": "train"},
                dropout_param={"p": 0.5, "seed": 1},
            )
            grads = L.hidden_layer_backward(np.ones_like(out), cache)
            assert out.dtype == dtype, (act, normalization)
            assert all(gr.dtype == dtype for gr in grads if gr is not None), (act, normalization)


def layer_pairs(rng):
    """Every forward/backward pair, as (forward call, backward), on small inputs."""
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    pairs = {
        "affine": (lambda: L.affine_forward(x, w, b), L.affine_backward),
        "batchnorm": (
            lambda: L.batchnorm_forward(x, gamma, beta, {"mode": "train"}),
            L.batchnorm_backward,
        ),
        "layernorm": (lambda: L.layernorm_forward(x, gamma, beta, {}), L.layernorm_backward),
        "dropout": (lambda: L.dropout_forward(x, {"p": 0.5, "seed": 3}), L.dropout_backward),
        "affine_relu": (lambda: L.affine_relu_forward(x, w, b), L.affine_relu_backward),
        "hidden_layer": (
            lambda: L.hidden_layer_forward(
                x,
                w,
                b,
                activation="swish",
                normalization="layernorm",
                gamma=gamma,
                beta=beta,
                norm_param={},
                dropout_param={"p": 0.3, "seed": 4},
            ),
            L.hidden_layer_backward,
        ),
    }
    for name, (forward, backward) in L.ACTIVATIONS.items():
        pairs[name] = (lambda forward=forward: forward(x), backward)
    return pairs


def assert_same(before, after, where="cache"):
    """Recursive equality of nested tuples, dicts and arrays (values and dtypes)."""
    if isinstance(before, np.ndarray):
        assert before.dtype == after.dtype, where
        np.testing.assert_array_equal(before, after, err_msg=where)
    elif isinstance(before, (tuple, list)):
        assert len(before) == len(after), where
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(before, dict):
        assert before.keys() == after.keys(), where
        for key in before:
            assert_same(before[key], after[key], f"{where}[{key!r}]")
    else:
        assert before == after, where


@pytest.mark.parametrize("name", sorted(layer_pairs(np.random.default_rng(0))))
def test_backward_does_not_mutate_cache(name, rng):
    forward, backward = layer_pairs(rng)[name]
    out, cache = forward()
    saved = copy.deepcopy(cache)
    dout = rng.standard_normal(out.shape)
    first = backward(dout, cache)
    assert_same(saved, cache)
    assert_same(first, backward(dout, cache), "a second backward")  # and nothing it relies on


def test_hand_computed_sigmoid_network():
    """2 inputs -> 2 sigmoid hidden units -> 1 sigmoid output, MSE against 0.8.

    Forward and backward are worked out here with scalar arithmetic and the chain rule, then
    compared with the layer functions composed the way a model composes them.
    """
    x1, x2 = 0.5, -1.0
    w11, w12, w21, w22 = 0.1, -0.2, 0.4, 0.3  # w_ij: input i -> hidden j
    c1, c2 = 0.05, -0.1
    v1, v2, c3 = 0.7, -0.6, 0.2
    t = 0.8

    def sig(z):
        return 1 / (1 + math.exp(-z))

    z1 = x1 * w11 + x2 * w21 + c1  # 0.05 - 0.4 + 0.05 = -0.3
    z2 = x1 * w12 + x2 * w22 + c2  # -0.1 - 0.3 - 0.1 = -0.5
    h1, h2 = sig(z1), sig(z2)
    z3 = h1 * v1 + h2 * v2 + c3
    y = sig(z3)
    loss = 0.5 * (y - t) ** 2  # 1/(2N) with N = 1
    assert z1 == pytest.approx(-0.3) and z2 == pytest.approx(-0.5)

    dy = y - t
    dz3 = dy * y * (1 - y)
    dv1, dv2, dc3 = dz3 * h1, dz3 * h2, dz3
    dz1 = dz3 * v1 * h1 * (1 - h1)
    dz2 = dz3 * v2 * h2 * (1 - h2)
    dw11, dw21, dc1 = dz1 * x1, dz1 * x2, dz1
    dw12, dw22, dc2 = dz2 * x1, dz2 * x2, dz2

    X = np.array([[x1, x2]])
    W1 = np.array([[w11, w12], [w21, w22]])
    b1 = np.array([c1, c2])
    W2 = np.array([[v1], [v2]])
    b2 = np.array([c3])
    a1, fc1 = L.affine_forward(X, W1, b1)
    h, s1 = L.sigmoid_forward(a1)
    a2, fc2 = L.affine_forward(h, W2, b2)
    out, s2 = L.sigmoid_forward(a2)
    got_loss, dout = mse_loss(out, np.array([[t]]))
    dh, dW2, db2 = L.affine_backward(L.sigmoid_backward(dout, s2), fc2)
    _, dW1, db1 = L.affine_backward(L.sigmoid_backward(dh, s1), fc1)

    assert out[0, 0] == pytest.approx(y, abs=1e-12)
    assert got_loss == pytest.approx(loss, abs=1e-12)
    np.testing.assert_allclose(dW2[:, 0], [dv1, dv2], atol=1e-12)
    np.testing.assert_allclose(db2, [dc3], atol=1e-12)
    np.testing.assert_allclose(dW1, [[dw11, dw12], [dw21, dw22]], atol=1e-12)
    np.testing.assert_allclose(db1, [dc1, dc2], atol=1e-12)
