"""`nnctl gradcheck`: the configured network's analytic gradients against numerical ones."""

from dataclasses import dataclass

import numpy as np

from nnctl.datasets import load_dataset
from nnctl.errors import ConfigError
from nnctl.models import MODEL_TYPES, FullyConnectedNet, build_model
from nnctl.nn.gradcheck import eval_numerical_gradient, grad_check_sparse

FULL_CHECK_LIMIT = 2000  # parameters with more entries are checked at random entries
STEP = 1e-5  # h of the centred differences (f(x + h) - f(x - h)) / 2h
ROUNDING_MARGIN = 100  # atol, in units of the rounding noise of one centred difference


@dataclass(frozen=True)
class Criterion:
    """When a numerical and an analytic gradient agree. For every checked entry:

        |numeric - analytic| <= max(threshold * (|numeric| + |analytic|), atol)

    so an entry of magnitude |numeric| + |analytic| >= floor = atol / threshold is held to a
    relative error <= threshold, and a smaller one to an absolute error <= atol. The absolute
    part is needed because a centred difference carries rounding noise of about
    eps * |loss| / h (each loss value is off by a few ulps, and the difference is divided by
    2h): where the true gradient is 0 (a dead ReLU, a bias before batchnorm) that noise is all
    there is, and no relative error can accept it (see tests/helpers.py assert_grad_close).
    """

    threshold: float
    atol: float

    @classmethod
    def for_loss(cls, threshold, loss, h=STEP):
        """The criterion for a loss of value `loss` differentiated with step h in float64."""
        noise = np.finfo(np.float64).eps * max(1.0, abs(float(loss))) / h
        # Rounded to the two digits the report prints, so the stated bound is the one applied.
        return cls(threshold, float(f"{ROUNDING_MARGIN * noise:.1e}"))

    @property
    def floor(self):
        """The entry magnitude |numeric| + |analytic| below which atol decides."""
        return self.atol / self.threshold

    def describe(self):
        """The criterion in words, as lines for a report."""
        return [
            "criterion for every checked entry: |numeric - analytic| <= "
            f"max({self.threshold:g} * (|numeric| + |analytic|), {self.atol:g})",
            "  rel error = worst |numeric - analytic| / (|numeric| + |analytic|) over entries with "
            f"|numeric| + |analytic| >= {self.floor:.1e}; must be <= {self.threshold:g}",
            f"  abs error = worst |numeric - analytic| over the smaller entries; must be <= "
            f"{self.atol:g}",
            f"  ({self.atol:g} ~ {ROUNDING_MARGIN} x eps * max(1, |loss|) / h, the rounding noise "
            f"of a centred difference with h = {STEP:g})",
        ]

    def compare(self, name, shape, numeric, analytic):
        """A GradCheckRow for one parameter's checked entries (arrays of the same shape)."""
        numeric = np.asarray(numeric, dtype=np.float64).ravel()
        analytic = np.asarray(analytic, dtype=np.float64).ravel()
        diff = np.abs(numeric - analytic)
        size = np.abs(numeric) + np.abs(analytic)
        large = size >= self.floor
        rel = float(np.max(diff[large] / size[large])) if large.any() else None
        # NaN sizes fail `large` and land here, where NaN fails the check below.
        absolute = float(np.max(diff[~large])) if (~large).any() else None
        ok = (rel is None or rel <= self.threshold) and (absolute is None or absolute <= self.atol)
        return GradCheckRow(name, tuple(shape), numeric.size, rel, absolute, bool(ok))


@dataclass
class GradCheckRow:
    """One parameter's verdict: rel_error over its entries at or above the criterion's floor,
    abs_error over those below (None where there are none), ok when both are within bounds."""

    name: str
    shape: tuple
    checked: int
    rel_error: float | None
    abs_error: float | None
    ok: bool


def check_config_gradients(config, threshold=1e-5, data_dir=None, batch=4, num_checks=20, seed=0):
    """Build the configured net (mlp or autoencoder) in float64 and check every parameter's
    gradient on the first `batch` training examples of the configured data (dropout masks
    fixed, reg as configured) under Criterion.for_loss(threshold, loss). Returns (criterion,
    rows), one GradCheckRow per parameter."""
    if not MODEL_TYPES[config.model.type].trainable:
        trained = " or ".join(n for n, kind in MODEL_TYPES.items() if kind.trainable)
        raise ConfigError(f"gradcheck needs model.type {trained} (kNN has no gradients)")
    data_config = config.data.model_copy(update={"subsample": max(batch, 1)})
    splits = load_dataset(data_config, np.random.default_rng(seed), data_dir=data_dir)
    X = splits.X_train[:batch].astype(np.float64)
    y = splits.y_train[:batch]
    spec = {**config.model.model_dump(), "dtype": "float64"}
    model = build_model(spec, splits.input_dim, splits.num_classes, seed=seed)
    if isinstance(model, FullyConnectedNet):
        model.dropout_param["seed"] = seed  # an int seed: the same mask on every call

    def f(_):
        return model.loss(X, y)[0]

    loss, grads = model.loss(X, y)
    criterion = Criterion.for_loss(threshold, loss)
    rows = []
    for name, param in model.params.items():
        if param.size <= FULL_CHECK_LIMIT:
            numeric = eval_numerical_gradient(f, param, verbose=False, h=STEP)
            analytic = grads[name]
        else:
            indices, numeric = grad_check_sparse(f, param, num_checks, h=STEP, rng=seed)
            analytic = grads[name][indices]
        rows.append(criterion.compare(name, param.shape, numeric, analytic))
    return criterion, rows
