"""The classifiers, and how to build, save and rebuild them from plain data.

A model's `spec()` is a dict of plain values that rebuilds it; `model_to_arrays` gives its
learned arrays; together they are what a run folder stores (no pickled objects).
"""

import numpy as np

from nnctl.errors import ModelError
from nnctl.models.fcnet import DTYPES, FullyConnectedNet, TwoLayerNet
from nnctl.models.knn import KNearestNeighbor

__all__ = [
    "FullyConnectedNet",
    "KNearestNeighbor",
    "TwoLayerNet",
    "build_model",
    "model_from_arrays",
    "model_to_arrays",
]

MLP_KEYS = (
    "hidden_dims",
    "dropout",
    "normalization",
    "reg",
    "weight_scale",
    "init",
    "activation",
    "loss",
)


def build_model(model_config, input_dim, num_classes, seed=None):
    """A new model from a model config mapping (the experiment file's `model:` block).

    Inputs: model_config with `type` 'mlp' (keys as FullyConnectedNet, plus `dtype` as a name)
    or 'knn' (`k` an int or a list of candidates, the smallest used until one is chosen;
    `metric`); input_dim, num_classes from the data; seed an int or Generator.
    """
    kind = model_config.get("type", "mlp")
    if kind == "mlp":
        kwargs = {key: model_config[key] for key in MLP_KEYS if key in model_config}
        dtype = DTYPES[model_config.get("dtype", "float32")]
        return FullyConnectedNet(
            input_dim=input_dim, num_classes=num_classes, dtype=dtype, seed=seed, **kwargs
        )
    if kind == "knn":
        k = model_config.get("k", 1)
        k = min(k) if isinstance(k, (list, tuple)) else k
        return KNearestNeighbor(k=k, metric=model_config.get("metric", "l2"))
    raise ModelError(f"unknown model type {kind!r}; valid: knn, mlp")


def model_to_arrays(model):
    """Every array needed to rebuild the trained model, keyed by name."""
    if isinstance(model, KNearestNeighbor):
        return {"X_train": model.X_train, "y_train": model.y_train}
    return {**model.params, **model.state_arrays()}


def model_from_arrays(spec, arrays):
    """Rebuild a model from its spec() and the arrays model_to_arrays() returned.

    Raises ModelError when an array is missing or has the wrong shape.
    """
    spec = dict(spec)
    kind = spec.pop("type", "mlp")
    if kind == "knn":
        model = KNearestNeighbor(k=spec.get("k", 1), metric=spec.get("metric", "l2"))
        _require(arrays, ["X_train", "y_train"])
        model.train(arrays["X_train"], arrays["y_train"])
        return model
    if kind != "mlp":
        raise ModelError(f"unknown model type {kind!r}; valid: knn, mlp")
    spec["dtype"] = DTYPES[spec.get("dtype", "float32")]
    model = FullyConnectedNet(**spec, seed=0)
    _require(arrays, list(model.params))
    for name, value in model.params.items():
        saved = np.asarray(arrays[name])
        if saved.shape != value.shape:
            raise ModelError(
                f"saved array {name} has shape {saved.shape}, the model needs {value.shape}"
            )
        model.params[name] = saved.astype(model.dtype)
    model.load_state_arrays(arrays)
    return model


def _require(arrays, names):
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ModelError(f"saved model is missing arrays: {', '.join(missing)}")
