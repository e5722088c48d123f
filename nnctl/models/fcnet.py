"""Fully connected networks of any depth, from the linear classifier to deep MLPs."""

import numpy as np

from nnctl.errors import ModelError
from nnctl.models.protocol import ACCURACY
from nnctl.nn.blas import axpy
from nnctl.nn.layers import (
    ACTIVATIONS,
    NORMALIZATIONS,
    affine_backward,
    affine_forward,
    hidden_layer_backward,
    hidden_layer_forward,
)
from nnctl.nn.losses import LOSSES

# How the standard deviation of a weight matrix (fan_in, fan_out) is chosen; None: weight_scale.
INITS = {
    "he": lambda fan_in, fan_out: np.sqrt(2.0 / fan_in),  # He et al. 2015, for ReLU-like units
    "xavier": lambda fan_in, fan_out: np.sqrt(2.0 / (fan_in + fan_out)),  # Glorot & Bengio 2010
}
DTYPES = {"float32": np.float32, "float64": np.float64}


class FullyConnectedNet:
    """{affine - [batchnorm | layernorm] - activation - [dropout]} x (L - 1) - affine - loss.

    Learnable arrays live in `self.params`: W1, b1, ..., WL, bL, and gamma1, beta1, ... for the
    normalised hidden layers. W_i has shape (dims[i-1], dims[i]) with
    dims = [input_dim, *hidden_dims, num_classes]; b_i, gamma_i, beta_i have shape (dims[i],).

    hidden_dims=[] is a linear classifier: with loss='svm' the multiclass linear SVM, with
    loss='softmax' the softmax classifier. Note the regularisation convention: the loss adds
    0.5 * reg * sum(W**2), so our `reg` equals 2x the `reg` of the course's linear classifiers
    (which add reg * sum(W**2)) for the same objective.

    Inputs:
    - hidden_dims: sizes of the hidden layers, each > 0
    - input_dim: D, the size of one flattened input
    - num_classes: C, the number of scores per input
    - dropout: probability of dropping a hidden unit in training (0 disables dropout)
    - normalization: None, 'batchnorm' or 'layernorm' after each hidden affine layer
    - reg: L2 strength, read from self.reg at every call of loss()
    - weight_scale: standard deviation of the initial weights when init is None
    - init: None, 'he' or 'xavier' (overrides weight_scale)
    - activation: relu, leaky_relu, sigmoid, tanh or swish
    - loss: softmax, svm or mse
    - label_smoothing: eps in [0, 1), softmax only: the targets are (1 - eps) * onehot + eps / C
    - dtype: np.float32 (training) or np.float64 (gradient checks); kept through every pass
    - seed: an int, None, or a numpy Generator. The Generator (kept as self.rng) draws the
      initial weights and then the dropout masks; NumPy's global random state is never used.
    """

    def __init__(
        self,
        hidden_dims,
        input_dim=3 * 32 * 32,
        num_classes=10,
        dropout=0.0,
        normalization=None,
        reg=0.0,
        weight_scale=1e-2,
        init=None,
        activation="relu",
        loss="softmax",
        dtype=np.float32,
        seed=None,
        label_smoothing=0.0,
    ):
        hidden_dims = [int(h) for h in hidden_dims]
        if any(h <= 0 for h in hidden_dims):
            raise ModelError(f"hidden_dims must all be positive, got {hidden_dims}")
        if input_dim <= 0 or num_classes <= 0:
            raise ModelError(
                f"input_dim and num_classes must be positive, got {input_dim}, {num_classes}"
            )
        if not 0 <= dropout < 1:
            raise ModelError(f"dropout must be in [0, 1), got {dropout}")
        if normalization is not None:
            NORMALIZATIONS[normalization]  # raises with the valid names
        if init is not None and init not in INITS:
            raise ModelError(f"unknown init {init!r}; valid: {', '.join(sorted(INITS))} or None")
        ACTIVATIONS[activation]
        LOSSES[loss]
        if not 0 <= label_smoothing < 1 or (label_smoothing and loss != "softmax"):
            raise ModelError(
                f"label_smoothing must be in [0, 1) and needs the softmax loss, got "
                f"{label_smoothing} with {loss}"
            )
        dtype = np.dtype(dtype).type
        if dtype not in DTYPES.values():
            raise ModelError(f"dtype must be float32 or float64, got {np.dtype(dtype).name}")

        self.hidden_dims = hidden_dims
        self.input_dim = int(input_dim)
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)
        self.normalization = normalization
        self.reg = float(reg)
        self.weight_scale = float(weight_scale)
        self.init = init
        self.activation = activation
        self.loss_name = loss
        self.label_smoothing = float(label_smoothing)
        self.dtype = dtype
        self.num_layers = len(hidden_dims) + 1
        self.rng = np.random.default_rng(seed)  # a Generator is shared, not copied

        dims = [self.input_dim, *hidden_dims, self.num_classes]
        self.params = {}
        for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True), start=1):
            std = INITS[init](fan_in, fan_out) if init else self.weight_scale
            # Drawn in float64 and then cast, so float32 and float64 nets from one seed agree.
            self.params[f"W{i}"] = (std * self.rng.standard_normal((fan_in, fan_out))).astype(dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
            if normalization is not None and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(fan_out, dtype=dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, dtype=dtype)

        # One state dict per normalised layer: batchnorm keeps its running averages here.
        self.norm_params = [{"mode": "train"} for _ in hidden_dims] if normalization else []
        self.dropout_param = {"p": self.dropout, "mode": "train", "seed": self.rng}

    def spec(self):
        """The constructor arguments as plain data: enough to rebuild this network."""
        return {
            "type": "mlp",
            "hidden_dims": list(self.hidden_dims),
            "input_dim": self.input_dim,
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "normalization": self.normalization,
            "reg": self.reg,
            "weight_scale": self.weight_scale,
            "init": self.init,
            "activation": self.activation,
            "loss": self.loss_name,
            "dtype": np.dtype(self.dtype).name,
            "label_smoothing": self.label_smoothing,
        }

    def loss(self, X, y=None):
        """Scores, or loss and gradients, for a minibatch.

        Inputs: X (N, d_1, ..., d_k) with d_1 * ... * d_k = input_dim, cast once to self.dtype;
        y (N,) integer labels in 0..C-1 (or float targets (N, C) for the mse loss), or None.

        Returns: with y None, test-mode scores (N, C) (dropout off, batchnorm on its running
        averages). Otherwise, in train mode, (loss, grads): a float, and a dict of arrays keyed
        and shaped like self.params.
        """
        X = np.asarray(X, dtype=self.dtype)
        mode = "test" if y is None else "train"
        for norm_param in self.norm_params:
            norm_param["mode"] = mode
        self.dropout_param["mode"] = mode
        dropout_param = self.dropout_param if self.dropout > 0 else None

        out, caches = X, []
        for i in range(1, self.num_layers):
            out, cache = hidden_layer_forward(
                out,
                self.params[f"W{i}"],
                self.params[f"b{i}"],
                activation=self.activation,
                normalization=self.normalization,
                gamma=self.params.get(f"gamma{i}"),
                beta=self.params.get(f"beta{i}"),
                norm_param=self.norm_params[i - 1] if self.normalization else None,
                dropout_param=dropout_param,
                compute_dx=i > 1,  # nobody needs the gradient with respect to the data
            )
            caches.append(cache)
        L = self.num_layers
        scores, last_cache = affine_forward(
            out, self.params[f"W{L}"], self.params[f"b{L}"], compute_dx=L > 1
        )
        if y is None:
            return scores

        if self.label_smoothing:
            loss, dout = LOSSES[self.loss_name](scores, y, smoothing=self.label_smoothing)
        else:
            loss, dout = LOSSES[self.loss_name](scores, y)
        grads = {}
        dout, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dout, last_cache)
        for i in range(L - 1, 0, -1):
            dout, dw, db, dgamma, dbeta = hidden_layer_backward(dout, caches[i - 1])
            grads[f"W{i}"], grads[f"b{i}"] = dw, db
            if self.normalization is not None:
                grads[f"gamma{i}"], grads[f"beta{i}"] = dgamma, dbeta

        if self.reg:
            for i in range(1, L + 1):
                W = self.params[f"W{i}"]
                loss += 0.5 * self.reg * float(np.vdot(W, W))
                axpy(self.reg, W, grads[f"W{i}"])
        return loss, grads

    metric = ACCURACY  # what the Solver measures after every epoch

    def score(self, X, y):
        """Accuracy on X (N, ...) with labels y (N,), scored in test mode."""
        return float(np.mean(self.predict(X) == y))

    def predict(self, X, batch_size=1000):
        """Predicted class (N,) int64 for X (N, ...), scored in test mode batch by batch."""
        pred = np.empty(X.shape[0], dtype=np.int64)
        for start in range(0, X.shape[0], batch_size):
            pred[start : start + batch_size] = np.argmax(
                self.loss(X[start : start + batch_size]), axis=1
            )
        return pred

    def state_arrays(self):
        """Non-learned state worth saving: batchnorm running averages, keyed running_mean1 ..."""
        state = {}
        for i, norm_param in enumerate(self.norm_params, start=1):
            for key in ("running_mean", "running_var"):
                if key in norm_param:
                    state[f"{key}{i}"] = norm_param[key]
        return state

    def load_state_arrays(self, state):
        """Put back what state_arrays() returned."""
        for i, norm_param in enumerate(self.norm_params, start=1):
            for key in ("running_mean", "running_var"):
                if f"{key}{i}" in state:
                    norm_param[key] = np.asarray(state[f"{key}{i}"], dtype=self.dtype)


class TwoLayerNet(FullyConnectedNet):
    """The course's two-layer network: affine - relu - affine - softmax.

    params: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,), initialised N(0, weight_scale^2) and 0.
    """

    def __init__(
        self,
        input_dim=3 * 32 * 32,
        hidden_dim=100,
        num_classes=10,
        weight_scale=1e-3,
        reg=0.0,
        dtype=np.float32,
        seed=None,
    ):
        super().__init__(
            [hidden_dim],
            input_dim=input_dim,
            num_classes=num_classes,
            weight_scale=weight_scale,
            reg=reg,
            dtype=dtype,
            seed=seed,
        )
