"""Keys that have an effect only in some settings (SCOPES), the keys a file gives without
effect (unused_keys), and the checks of a config against the loaded data."""

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from nnctl.config.messages import schema_at, short_value
from nnctl.config.schema import ExperimentConfig, ScheduleConfig, SchedulerConfig, TrainConfig
from nnctl.datasets import SOURCES
from nnctl.errors import ConfigError
from nnctl.models import MODEL_TYPES


@dataclass(frozen=True)
class Scope:
    """`keys` have an effect only when `applies(config)`, which `when` says in words (and `why`
    explains); the `deciding` keys are the ones whose values make it so."""

    keys: tuple
    when: str
    deciding: tuple
    applies: Callable[[ExperimentConfig], bool]
    why: str = ""


MLP_MODEL_KEYS = tuple(
    f"model.{key}"
    for key in ("hidden_dims", "activation", "normalization", "dropout", "loss", "label_smoothing")
)
NET_MODEL_KEYS = tuple(f"model.{key}" for key in ("weight_scale", "init", "reg", "dtype"))
KNN_MODEL_KEYS = ("model.k", "model.metric", "model.folds")
AUTOENCODER_KEYS = ("model.code_dim", "model.tied", "model.code_activation")
TRAINED = tuple(name for name, kind in MODEL_TYPES.items() if kind.trainable)


def _trained(c):
    return MODEL_TYPES[c.model.type].trainable


TRAIN_KEYS = tuple(f"train.{key}" for key in TrainConfig.model_fields)
SYNTHETIC_DATASETS = tuple(n for n, s in SOURCES.items() if s.images is False)  # vectors
DOWNLOADED_DATASETS = tuple(n for n, s in SOURCES.items() if s.kind == "files")


def _dataset_in(names):
    return lambda c: c.data.dataset in names


SCOPES = (
    Scope(KNN_MODEL_KEYS, "model.type is knn", ("model.type",), lambda c: c.model.type == "knn"),
    Scope(MLP_MODEL_KEYS, "model.type is mlp", ("model.type",), lambda c: c.model.type == "mlp"),
    Scope(
        AUTOENCODER_KEYS,
        "model.type is autoencoder",
        ("model.type",),
        lambda c: c.model.type == "autoencoder",
    ),
    Scope(
        NET_MODEL_KEYS,
        "model.type is " + " or ".join(TRAINED),
        ("model.type",),
        _trained,
        why="kNN has no weights",
    ),
    Scope(
        TRAIN_KEYS,
        "model.type is " + " or ".join(TRAINED),
        ("model.type",),
        _trained,
        why="kNN is not trained by an optimiser",
    ),
    Scope(
        ("train.momentum",),
        "train.optimizer is sgd_momentum",
        ("train.optimizer",),
        lambda c: c.train.optimizer == "sgd_momentum",
    ),
    Scope(
        ("train.weight_decay",),
        "train.optimizer is adamw",
        ("train.optimizer",),
        lambda c: c.train.optimizer == "adamw",
        why="model.reg is the L2 penalty of the other rules",
    ),
    Scope(
        tuple(f"train.schedule.{key}" for key in ScheduleConfig.model_fields),
        "model.type is " + " or ".join(TRAINED),
        ("model.type",),
        _trained,
        why="kNN is not trained by an optimiser",
    ),
    Scope(
        ("train.schedule.step_epochs",),
        "train.schedule.type is step",
        ("train.schedule.type",),
        lambda c: c.train.schedule is None or c.train.schedule.type == "step",
    ),
    Scope(
        ("train.schedule.gamma",),
        "train.schedule.type is step or exponential",
        ("train.schedule.type",),
        lambda c: c.train.schedule is None or c.train.schedule.type in ("step", "exponential"),
    ),
    Scope(
        ("train.schedule.final_fraction",),
        "train.schedule.type is cosine",
        ("train.schedule.type",),
        lambda c: c.train.schedule is None or c.train.schedule.type == "cosine",
    ),
    Scope(
        ("model.label_smoothing",),
        "model.loss is softmax",
        ("model.loss",),
        lambda c: c.model.loss == "softmax",
        why="it smooths the softmax's targets",
    ),
    Scope(
        ("model.weight_scale",),
        "model.init is null",
        ("model.init",),
        lambda c: c.model.init is None,
        why="he and xavier choose their own scale",
    ),
    Scope(
        ("model.folds",),
        "model.k is a list",
        ("model.k",),
        lambda c: isinstance(c.model.k, list),
        why="a single k is not cross-validated",
    ),
    Scope(
        ("data.augment",),
        "model.type is " + " or ".join(TRAINED),
        ("model.type",),
        _trained,
        why="kNN has no training batches",
    ),
    Scope(
        ("data.augment", "data.features"),
        "data.dataset is an image dataset",
        ("data.dataset",),
        lambda c: c.data.dataset not in SYNTHETIC_DATASETS,
        why=" and ".join(SYNTHETIC_DATASETS) + " are generated vectors",
    ),
    Scope(
        ("data.augment",),
        "data.features is null",
        ("data.features",),
        lambda c: not c.data.features,
        why="augmentation changes images, not their features",
    ),
    Scope(
        ("data.classes", "data.noise"),
        "data.dataset is " + " or ".join(SYNTHETIC_DATASETS),
        ("data.dataset",),
        _dataset_in(SYNTHETIC_DATASETS),
    ),
    Scope(("data.dim",), "data.dataset is blobs", ("data.dataset",), _dataset_in(["blobs"])),
    Scope(("data.path",), "data.dataset is npz", ("data.dataset",), _dataset_in(["npz"])),
    Scope(
        ("data.root", "data.download"),
        "data.dataset is " + ", ".join(DOWNLOADED_DATASETS[:-1]) + " or " + DOWNLOADED_DATASETS[-1],
        ("data.dataset",),
        _dataset_in(DOWNLOADED_DATASETS),
        why="the other datasets are bundled, generated or read from data.path",
    ),
    Scope(
        ("sweep.trials",),
        "sweep.method is random or tpe",
        ("sweep.method",),
        lambda c: c.sweep is None or c.sweep.method in ("random", "tpe"),
        why="a grid runs every combination",
    ),
    Scope(
        ("sweep.order",),
        "sweep.method is grid",
        ("sweep.method",),
        lambda c: c.sweep is None or c.sweep.method == "grid",
        why="random draws come in random order",
    ),
    Scope(
        tuple(f"sweep.scheduler.{key}" for key in SchedulerConfig.model_fields),
        "model.type is " + " or ".join(TRAINED),
        ("model.type",),
        _trained,
        why="a scheduler pauses trials at epochs; kNN has none",
    ),
)


def scopes_of(key):
    """The scopes that limit where dotted `key` has an effect."""
    return [scope for scope in SCOPES if key in scope.keys]


def given_keys(model, prefix=""):
    """(dotted key, value) of every key set explicitly in a validated config (pydantic's
    model_fields_set), sections followed into."""
    for name in type(model).model_fields:
        if name not in model.model_fields_set:
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            yield from given_keys(value, f"{prefix}{name}.")
        else:
            yield prefix + name, value


def _value_at(config, dotted):
    value = config
    for part in dotted.split("."):
        value = getattr(value, part, None)
    return value


def unused_keys(config):
    """(where, problem) for every key given explicitly, or swept, that has no effect in this
    config's setting (SCOPES); where is the dotted key (sweep.params.KEY for a swept one).

    A key left at its default, null or empty asks for nothing and passes, so a resolved
    config (every key written out) is accepted. A scope whose deciding key is swept is left to
    the trials.
    """
    swept = set(config.sweep.params) if config.sweep else set()
    asked = [
        (key, key)
        for key, value in given_keys(config)
        if value not in (None, [], {}) and value != _default(key)
    ]
    asked += [(f"sweep.params.{key}", key) for key in sorted(swept)]
    problems = []
    for where, key in asked:
        scope = next(
            (
                scope
                for scope in SCOPES
                if key in scope.keys
                and not swept & set(scope.deciding)
                and not scope.applies(config)
            ),
            None,
        )
        if scope is not None:
            deciding = ", ".join(
                f"{d} is {short_value(_value_at(config, d))}" for d in scope.deciding
            )
            subject = "it" if where == key else key
            why = f" ({scope.why})" if scope.why else ""
            problems.append(
                (
                    where,
                    f"{where}: has no effect: {subject} is used only when {scope.when}{why}, "
                    f"and here {deciding}; remove it",
                )
            )
    return problems


def _default(dotted):
    section, _, name = dotted.rpartition(".")
    model = schema_at(section.split(".") if section else [])
    return model.model_fields[name].get_default(call_default_factory=True)


def check_against_data(config, splits):
    """Raise ConfigError for settings the loaded data makes impossible, before anything runs.

    splits: anything with X_train (N, ...), image_shape ((H, W, C) or None when the examples
    are not images, e.g. after data.features) and num_classes. Every problem is listed.
    """
    problems = []
    if splits.num_classes < 2:
        problems.append(
            f"data: the training data has {splits.num_classes} class"
            f"{'' if splits.num_classes == 1 else 'es'}; a classifier needs 2 or more"
        )
    if config.data.augment and splits.image_shape is None:
        problems.append(
            f"data.augment: augmentation needs images, but the examples of dataset "
            f"{config.data.dataset} are not images (no image shape); remove data.augment"
        )
    if config.model.type == "knn":
        problems += _knn_against_data(config.model, len(splits.X_train))
    if problems:
        raise ConfigError("\n".join(problems))


def _knn_against_data(model, n_train):
    """k (and folds) against the n_train training examples. A list of k is cross-validated:
    np.array_split makes the largest fold ceil(n / folds), so the smallest training part of a
    fold holds n - ceil(n / folds) examples, and every k must fit in it."""
    if not isinstance(model.k, list):
        if model.k > n_train:
            return [f"model.k: k = {model.k} is more than the {n_train} training examples"]
        return []
    if model.folds > n_train:
        return [
            f"model.folds: {model.folds} folds need at least as many training examples, "
            f"and there are {n_train}"
        ]
    smallest = n_train - -(-n_train // model.folds)
    too_large = [str(k) for k in model.k if k > smallest]
    if too_large:
        verb = "is" if len(too_large) == 1 else "are"
        return [
            f"model.k: {', '.join(too_large)} {verb} more than the {smallest} training examples "
            f"of a cross-validation fold ({n_train} examples in {model.folds} folds)"
        ]
    return []
