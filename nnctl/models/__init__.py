"""The classifiers, and how to build, save and rebuild them from plain data.

MODEL_TYPES is the one registry of model types: the config schema takes `model.type`'s
allowed values from it, and the experiment's runners are keyed by the same names. A model's
`spec()` is a dict of plain values that rebuilds it; `model_to_arrays` gives its learned
arrays; together they are what a run folder stores (no pickled objects).
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnctl.errors import ModelError
from nnctl.models.autoencoder import Autoencoder
from nnctl.models.fcnet import DTYPES, FullyConnectedNet, TwoLayerNet
from nnctl.models.knn import KNearestNeighbor
from nnctl.models.protocol import SavedModel, TrainableModel
from nnctl.registry import Registry

__all__ = [
    "MODEL_TYPES",
    "Autoencoder",
    "FullyConnectedNet",
    "KNearestNeighbor",
    "SavedModel",
    "TrainableModel",
    "TwoLayerNet",
    "build_model",
    "model_from_arrays",
    "model_to_arrays",
]


@dataclass(frozen=True)
class ModelType:
    """How one model type is built from its config block, saved and rebuilt."""

    cls: type
    build: Callable  # (model config dict, input_dim, num_classes, seed) -> model
    to_arrays: Callable  # model -> {name: array}
    rebuild: Callable  # (spec without "type", arrays) -> model
    trainable: bool  # trained by the Solver (has the TrainableModel contract)


def _constructor_args(cls, mapping, exclude=()):
    names = [p for p in inspect.signature(cls).parameters if p not in exclude]
    return {name: mapping[name] for name in names if name in mapping}


def _check_spec_keys(cls, spec, extra=()):
    """A saved spec with keys the constructor does not know was written by a newer nnctl or
    tampered with: refuse it rather than guess."""
    known = set(inspect.signature(cls).parameters) | set(extra)
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ModelError(f"the saved model has settings this nnctl does not know: {unknown}")


def _build_mlp(config, input_dim, num_classes, seed):
    kwargs = _constructor_args(FullyConnectedNet, config, exclude=("input_dim", "num_classes"))
    kwargs["dtype"] = DTYPES[config.get("dtype", "float32")]
    kwargs["seed"] = seed
    return FullyConnectedNet(input_dim=input_dim, num_classes=num_classes, **kwargs)


def _mlp_arrays(model):
    return {**model.params, **model.state_arrays()}


def _rebuild_mlp(spec, arrays):
    _check_spec_keys(FullyConnectedNet, spec)
    spec = {**spec, "dtype": DTYPES.get(spec.get("dtype", "float32"))}
    if spec["dtype"] is None:
        raise ModelError(f"the saved model has an unknown dtype; valid: {', '.join(DTYPES)}")
    try:
        model = FullyConnectedNet(**{**spec, "seed": 0})
    except (TypeError, ValueError) as err:
        raise ModelError(f"the saved model's settings are invalid ({err})") from None
    _load_params(model, arrays)
    model.load_state_arrays(arrays)
    return model


def _build_autoencoder(config, input_dim, num_classes, seed):
    return Autoencoder(
        code_dim=config["code_dim"],
        input_dim=input_dim,
        tied=config.get("tied", True),
        activation=config.get("code_activation"),
        reg=config.get("reg", 0.0),
        weight_scale=config.get("weight_scale", 1e-2),
        init=config.get("init"),
        dtype=DTYPES[config.get("dtype", "float32")],
        seed=seed,
    )


def _rebuild_autoencoder(spec, arrays):
    _check_spec_keys(Autoencoder, spec)
    spec = {**spec, "dtype": DTYPES.get(spec.get("dtype", "float32"))}
    if spec["dtype"] is None:
        raise ModelError(f"the saved model has an unknown dtype; valid: {', '.join(DTYPES)}")
    try:
        model = Autoencoder(**{**spec, "seed": 0})
    except (TypeError, ValueError) as err:
        raise ModelError(f"the saved model's settings are invalid ({err})") from None
    _load_params(model, arrays)
    return model


def _build_knn(config, input_dim, num_classes, seed):
    k = config.get("k", 1)
    k = min(k) if isinstance(k, (list, tuple)) else k
    return KNearestNeighbor(k=k, metric=config.get("metric", "l2"))


def _rebuild_knn(spec, arrays):
    _check_spec_keys(KNearestNeighbor, spec)
    model = KNearestNeighbor(k=spec.get("k", 1), metric=spec.get("metric", "l2"))
    _require(arrays, ["X_train", "y_train"])
    model.train(arrays["X_train"], arrays["y_train"])
    return model


MODEL_TYPES = Registry(
    "model type",
    {
        "mlp": ModelType(FullyConnectedNet, _build_mlp, _mlp_arrays, _rebuild_mlp, trainable=True),
        "autoencoder": ModelType(
            Autoencoder,
            _build_autoencoder,
            lambda model: dict(model.params),
            _rebuild_autoencoder,
            trainable=True,
        ),
        "knn": ModelType(
            KNearestNeighbor,
            _build_knn,
            lambda model: {"X_train": model.X_train, "y_train": model.y_train},
            _rebuild_knn,
            trainable=False,
        ),
    },
)


def build_model(model_config, input_dim, num_classes, seed=None):
    """A new model from a model config mapping (the experiment file's `model:` block).

    Inputs: model_config with `type` a name in MODEL_TYPES ('mlp': keys as
    FullyConnectedNet, plus `dtype` as a name; 'knn': `k` an int or a list of candidates,
    the smallest used until one is chosen, and `metric`); input_dim, num_classes from the
    data; seed an int or Generator.
    """
    kind = MODEL_TYPES[model_config.get("type", "mlp")]
    return kind.build(model_config, input_dim, num_classes, seed)


def model_to_arrays(model):
    """Every array needed to rebuild the trained model, keyed by name."""
    return MODEL_TYPES[model.spec()["type"]].to_arrays(model)


def model_from_arrays(spec, arrays):
    """Rebuild a model from its spec() and the arrays model_to_arrays() returned.

    Raises ModelError when the type is unknown, a setting is unknown or invalid, or an array
    is missing or has the wrong shape.
    """
    spec = dict(spec)
    return MODEL_TYPES[spec.pop("type", "mlp")].rebuild(spec, arrays)


def _load_params(model, arrays):
    """Put the saved arrays into model.params, each checked against the shape it needs."""
    _require(arrays, list(model.params))
    for name, value in model.params.items():
        saved = np.asarray(arrays[name])
        if saved.shape != value.shape:
            raise ModelError(
                f"saved array {name} has shape {saved.shape}, the model needs {value.shape}"
            )
        model.params[name] = saved.astype(model.dtype)


def _require(arrays, names):
    missing = [name for name in names if name not in arrays]
    if missing:
        raise ModelError(f"saved model is missing arrays: {', '.join(missing)}")
