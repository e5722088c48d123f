"""The autoencoder: a code z = act(W x) of m < n numbers from which x is rebuilt.

The course's homework model is the tied linear one: encode z = W x with W (m, n), decode
x_hat = W^T z, and minimise 1/2 ||W^T W x - x||^2 averaged over the data. Its gradient for one
example, with r = W^T W x - x the residual, is

    dL/dW = W r x^T + W x r^T,

the first term through the encoder, the second through the decoder. Every minimum spans the
top-m principal subspace of the data's (uncentred) second-moment matrix, with W W^T = I
(Baldi & Hornik, 1989); nnctl.models.subspace measures both.
"""

import numpy as np

from nnctl.errors import ModelError
from nnctl.models.fcnet import DTYPES, INITS
from nnctl.models.protocol import RECONSTRUCTION_ERROR
from nnctl.nn.blas import axpy
from nnctl.nn.layers import ACTIVATIONS, affine_backward, affine_forward
from nnctl.nn.losses import mse_loss


class Autoencoder:
    """x (n,) -> z = act(encoder x) (m,) -> x_hat = decoder z (n,), trained to give x_hat = x.

    Parameters in `self.params`, stored like FullyConnectedNet's (inputs down, units across,
    so an affine layer is x @ W + b):
    - tied=True (the homework): W (m, n) alone. z = act(x @ W.T), x_hat = z @ W, i.e.
      z = act(W x), x_hat = W^T z; no biases.
    - tied=False: W1 (n, m), b1 (m,) for the encoder and W2 (m, n), b2 (n,) for the decoder:
      z = act(x @ W1 + b1), x_hat = z @ W2 + b2 (a network with one hidden layer of m units
      whose target is its input). With the biases it learns the mean: the rows of a linear
      optimum's W2 span the principal subspace of the centred data. (W1 is determined only
      along directions in which the data vary.)
    encoder_weights() gives the encoder as m rows of length n in either case.

    Loss, for a minibatch X of N examples:
        L = 1/(2N) * sum_i ||x_hat_i - x_i||^2 + 0.5 * reg * sum(W**2)
    the sum of squares taken over the weight matrices (W, or W1 and W2), never the biases.

    Inputs:
    - code_dim: m, the size of the code, 0 < m < input_dim
    - input_dim: n, the size of one flattened input
    - tied: one matrix W for both ways (True) or separate W1, b1, W2, b2 (False)
    - activation: None (linear code) or a name in nnctl.nn.layers.ACTIVATIONS, applied to the
      code only; the decoder stays linear, so x_hat can take any real values
    - reg: L2 strength, read from self.reg at every call of loss()
    - weight_scale: standard deviation of the initial weights when init is None. For the
      tied linear model W W^T starts near n * weight_scale^2 * I; 1/sqrt(n) starts it near I.
    - init: None, 'he' or 'xavier' (as FullyConnectedNet; the encoder's fan-in is n)
    - dtype: np.float32 (training) or np.float64 (gradient checks); kept through every pass
    - seed: an int, None or a numpy Generator; the Generator (self.rng) draws the initial
      weights. NumPy's global random state is never used.
    """

    def __init__(
        self,
        code_dim,
        input_dim,
        tied=True,
        activation=None,
        reg=0.0,
        weight_scale=1e-2,
        init=None,
        dtype=np.float32,
        seed=None,
    ):
        if not 0 < int(code_dim) < int(input_dim):
            raise ModelError(
                "an autoencoder needs 0 < code_dim < input_dim (a wider code can copy its "
                f"input), got code_dim={code_dim}, input_dim={input_dim}"
            )
        if activation is not None:
            ACTIVATIONS[activation]  # raises with the valid names
        if init is not None and init not in INITS:
            raise ModelError(f"unknown init {init!r}; valid: {', '.join(sorted(INITS))} or None")
        dtype = np.dtype(dtype).type
        if dtype not in DTYPES.values():
            raise ModelError(f"dtype must be float32 or float64, got {np.dtype(dtype).name}")

        self.code_dim = int(code_dim)
        self.input_dim = int(input_dim)
        self.tied = bool(tied)
        self.activation = activation
        self.reg = float(reg)
        self.weight_scale = float(weight_scale)
        self.init = init
        self.dtype = dtype
        self.rng = np.random.default_rng(seed)  # a Generator is shared, not copied

        m, n = self.code_dim, self.input_dim
        if self.tied:
            self.params = {"W": self._draw((m, n), fan_in=n, fan_out=m)}
        else:
            self.params = {
                "W1": self._draw((n, m), fan_in=n, fan_out=m),
                "b1": np.zeros(m, dtype=dtype),
                "W2": self._draw((m, n), fan_in=m, fan_out=n),
                "b2": np.zeros(n, dtype=dtype),
            }

    def _draw(self, shape, fan_in, fan_out):
        std = INITS[self.init](fan_in, fan_out) if self.init else self.weight_scale
        # Drawn in float64 and then cast, so float32 and float64 models from one seed agree.
        return (std * self.rng.standard_normal(shape)).astype(self.dtype)

    def spec(self):
        """The constructor arguments as plain data: enough to rebuild this model."""
        return {
            "type": "autoencoder",
            "code_dim": self.code_dim,
            "input_dim": self.input_dim,
            "tied": self.tied,
            "activation": self.activation,
            "reg": self.reg,
            "weight_scale": self.weight_scale,
            "init": self.init,
            "dtype": np.dtype(self.dtype).name,
        }

    def _weights(self):
        """(encoder W (n, m), b (m,) or None, decoder W (m, n), b (n,) or None), affine layout."""
        p = self.params
        if self.tied:
            return p["W"].T, None, p["W"], None
        return p["W1"], p["b1"], p["W2"], p["b2"]

    def encoder_weights(self):
        """The encoder as rows (m, n): W when tied, W1.T otherwise (a view, not a copy)."""
        return self.params["W"] if self.tied else self.params["W1"].T

    def _flatten(self, X):
        X = np.asarray(X, dtype=self.dtype)
        X = X.reshape(X.shape[0], -1)
        if X.shape[1] != self.input_dim:
            raise ModelError(
                f"the autoencoder takes inputs of {self.input_dim} values, got {X.shape[1]}"
            )
        return X

    def _encode(self, X):
        """Codes z (N, m) for flat X (N, n), and the caches to differentiate them."""
        W_enc, b_enc, _, _ = self._weights()
        # Without biases (tied) the layer adds a scalar 0, and _backward drops its db.
        b_enc = self.dtype(0) if b_enc is None else b_enc
        a, enc_cache = affine_forward(X, W_enc, b_enc, compute_dx=False)
        if self.activation is None:
            return a, (enc_cache, None)
        z, act_cache = ACTIVATIONS[self.activation][0](a)
        return z, (enc_cache, act_cache)

    def _forward(self, X):
        """x_hat (N, n) for flat X (N, n), and the caches for _backward."""
        _, _, W_dec, b_dec = self._weights()
        z, (enc_cache, act_cache) = self._encode(X)
        x_hat, dec_cache = affine_forward(z, W_dec, self.dtype(0) if b_dec is None else b_dec)
        return x_hat, (enc_cache, act_cache, dec_cache)

    def _backward(self, dout, caches):
        """Gradients keyed like self.params, from dout = dL/dx_hat (N, n)."""
        enc_cache, act_cache, dec_cache = caches
        dz, dW_dec, db_dec = affine_backward(dout, dec_cache)
        da = dz if self.activation is None else ACTIVATIONS[self.activation][1](dz, act_cache)
        _, dW_enc, db_enc = affine_backward(da, enc_cache)
        if self.tied:
            # W is used twice: the decoder's gradient (sum_i W x_i r_i^T) / N plus the transposed
            # encoder's (sum_i W r_i x_i^T) / N, the two terms of the homework's formula.
            return {"W": dW_dec + dW_enc.T}
        return {"W1": dW_enc, "b1": db_enc, "W2": dW_dec, "b2": db_dec}

    def loss(self, X, y=None):
        """Reconstructions, or loss and gradients, for a minibatch.

        Inputs: X (N, d_1, ..., d_k) with d_1 * ... * d_k = input_dim, flattened to (N, n) and
        cast once to self.dtype. y is only a switch, as in the other models' contract: None
        asks for reconstructions, anything else for training. Its values are ignored; the
        target is X itself.

        Returns: with y None, the reconstructions x_hat (N, n). Otherwise (loss, grads): a float
        L = 1/(2N) sum_i ||x_hat_i - x_i||^2 + 0.5 * reg * sum(W**2), and a dict of arrays keyed
        and shaped like self.params.
        """
        X = self._flatten(X)
        x_hat, caches = self._forward(X)
        if y is None:
            return x_hat
        loss, dout = mse_loss(x_hat, X)  # dout = (x_hat - X) / N
        grads = self._backward(dout, caches)
        if self.reg:
            for name in ("W",) if self.tied else ("W1", "W2"):
                W = self.params[name]
                loss += 0.5 * self.reg * float(np.vdot(W, W))
                axpy(self.reg, W, grads[name])
        return loss, grads

    def encode(self, X):
        """The codes z (N, m) of X (N, d_1..d_k)."""
        return self._encode(self._flatten(X))[0]

    metric = RECONSTRUCTION_ERROR  # what the Solver measures after every epoch (lower: better)

    def score(self, X, y=None):
        """The reconstruction error on X (y is ignored): the Solver's per-epoch metric."""
        return self.reconstruction_error(X)

    def predict(self, X, batch_size=1000):
        """The reconstructions (N, n) of X (N, d_1..d_k), batch_size examples at a time."""
        out = np.empty((X.shape[0], self.input_dim), dtype=self.dtype)
        for start in range(0, X.shape[0], batch_size):
            out[start : start + batch_size] = self.loss(X[start : start + batch_size])
        return out

    def reconstruction_error(self, X, batch_size=1000):
        """Mean over the N examples of 1/2 ||x_hat_i - x_i||^2: the loss without its L2 term.

        X (N, d_1..d_k) is reconstructed batch_size examples at a time, so memory stays bounded;
        the squares are summed in float64. Returns a float.
        """
        N = X.shape[0]
        total = 0.0
        for start in range(0, N, batch_size):
            batch = self._flatten(X[start : start + batch_size])
            diff = self.loss(batch) - batch
            total += 0.5 * float(np.sum(diff * diff, dtype=np.float64))
        return total / N

    def state_arrays(self):
        """Non-learned state worth saving: none (there is no batchnorm here)."""
        return {}

    def load_state_arrays(self, state):
        """Nothing to put back; kept for the model contract."""
