"""`nnctl gradcheck`: the configured network's analytic gradients against numerical ones."""

from dataclasses import dataclass

import numpy as np

from nnctl.datasets import load_dataset
from nnctl.errors import ConfigError
from nnctl.models import build_model
from nnctl.nn.gradcheck import eval_numerical_gradient, grad_check_sparse, rel_error

FULL_CHECK_LIMIT = 2000  # parameters with more entries are checked at random entries


ABS_TOLERANCE = 1e-9  # entries whose true gradient is 0 leave ~1e-11 of rounding noise


@dataclass
class GradCheckRow:
    name: str
    shape: tuple
    checked: int
    rel_error: float
    abs_error: float

    def ok(self, threshold):
        """Relative error below threshold, or both gradients zero up to rounding."""
        return self.rel_error < threshold or self.abs_error < ABS_TOLERANCE


def check_config_gradients(config, data_dir=None, batch=4, num_checks=20, seed=0):
    """Build the configured MLP in float64 and check every parameter's gradient on the first
    `batch` training examples of the configured data (dropout masks fixed, reg as
    configured). Returns a list of GradCheckRow."""
    if config.model.type != "mlp":
        raise ConfigError("gradcheck needs model.type mlp (kNN has no gradients)")
    data_config = config.data.model_copy(update={"subsample": max(batch, 1)})
    splits = load_dataset(data_config, np.random.default_rng(seed), data_dir=data_dir)
    X = splits.X_train[:batch].astype(np.float64)
    y = splits.y_train[:batch]
    spec = {**config.model.model_dump(), "dtype": "float64"}
    model = build_model(spec, splits.input_dim, splits.num_classes, seed=seed)
    model.dropout_param["seed"] = seed  # an int seed: the same mask on every call

    def f(_):
        return model.loss(X, y)[0]

    _, grads = model.loss(X, y)
    rows = []
    for name, param in model.params.items():
        if param.size <= FULL_CHECK_LIMIT:
            numeric = eval_numerical_gradient(f, param, verbose=False)
            analytic = grads[name]
        else:
            indices, numeric = grad_check_sparse(f, param, num_checks, rng=seed)
            analytic = grads[name][indices]
        abs_error = float(np.max(np.abs(numeric - analytic)))
        rows.append(
            GradCheckRow(name, param.shape, numeric.size, rel_error(numeric, analytic), abs_error)
        )
    return rows
