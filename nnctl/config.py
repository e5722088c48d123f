"""The experiment file: schema, defaults, strict YAML loading, overrides and error messages.

Every default lives in the schema below. Unknown keys are errors that name the dotted path
and suggest the nearest valid key; all problems in a file are reported together, each with
its line and column.
"""

import difflib
import re
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nnctl.datasets import SOURCES
from nnctl.datasets.augment import AUGMENTATIONS
from nnctl.datasets.features import FEATURES
from nnctl.datasets.features import normalize_spec as normalize_feature_spec
from nnctl.datasets.preprocess import STEPS
from nnctl.errors import ConfigError
from nnctl.models import MODEL_TYPES
from nnctl.models.fcnet import DTYPES, INITS
from nnctl.models.knn import METRICS
from nnctl.nn.layers import ACTIVATIONS, NORMALIZATIONS
from nnctl.nn.losses import LOSSES
from nnctl.nn.optim import UPDATE_RULES
from nnctl.safeyaml import MAX_BYTES, clip, parse_yaml, shortlist
from nnctl.training.live import LIVE_LOGGERS
from nnctl.training.schedules import SCHEDULES

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]


def one_of(names):
    """The schema type of a name from a registry: every name is defined once, where it is
    implemented, and the schema takes its allowed values from there."""
    return Literal[tuple(names)]


DATASET_NAMES = one_of(SOURCES)
PREPROCESS_NAMES = one_of(STEPS)
FEATURE_NAMES = one_of(FEATURES)
AUGMENT_NAMES = one_of(AUGMENTATIONS)
OPTIMIZERS = one_of(UPDATE_RULES)
ACTIVATION_NAMES = one_of(ACTIVATIONS)
NORMALIZATION_NAMES = one_of(NORMALIZATIONS)
LOSS_NAMES = one_of(LOSSES)
MODEL_TYPE_NAMES = one_of(MODEL_TYPES)
INIT_NAMES = one_of(INITS)
DTYPE_NAMES = one_of(DTYPES)
METRIC_NAMES = one_of(METRICS)


NAME_PATTERN = r"^[A-Za-z0-9._-]+$"
NAME_MAX_LENGTH = 100  # with a 20-character timestamp and suffixes, folder names stay < 255 bytes


class _Strict(BaseModel):
    """Unknown keys are errors; types are strict (true is not a number, 1 is not a string,
    an int is still a float); infinities and NaN are refused."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False
    )


class SplitConfig(_Strict):
    """How many examples each split takes (as in the course: val right after train)."""

    train: PositiveInt | None = Field(
        None,
        description="training examples, the first of the official training set; "
        "null: everything before the validation slice",
    )
    val: NonNegativeInt | None = Field(
        None,
        description="validation examples, taken right after the training ones; "
        "null: data.val_fraction (default 10%) of the training set",
    )
    test: NonNegativeInt | None = Field(
        None, description="test examples, the first of the official test set; null: all of it"
    )


class DataConfig(_Strict):
    """The dataset, its splits and what is done to it before training."""

    dataset: DATASET_NAMES = Field("mnist-mini", description="which dataset to load")
    root: str | None = Field(
        None,
        description="folder holding the downloaded datasets; null: --data-dir, else "
        "$NNCTL_DATA_DIR, else ~/.cache/nnctl",
    )
    download: bool = Field(
        False, description="fetch the dataset from its canonical source and verify its checksum"
    )
    path: str | None = Field(
        None,
        description="dataset npz: the .npz file (X_train, y_train, ...), relative to the "
        "experiment file",
    )
    split: SplitConfig = Field(SplitConfig(), description="sizes of the splits")
    val_fraction: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        None,
        description="fraction of the training set held out for validation when "
        "data.split.val is null; null: 0.1",
    )
    subsample: PositiveInt | None = Field(
        None, description="cap every split at its first N examples (for quick trials)"
    )
    preprocess: list[PREPROCESS_NAMES] = Field(
        [], description="steps fitted on the training split and applied to every split, in order"
    )
    features: list[FEATURE_NAMES | dict[str, dict[str, Any] | None]] | None = Field(
        None,
        description="image features computed instead of pixels, e.g. "
        "[hog, {color_histogram: {bins: 10}}]; cached on disk",
    )
    augment: list[AUGMENT_NAMES | dict[str, dict[str, Any] | None]] | None = Field(
        None,
        description="random changes to training batches only, e.g. [hflip, {crop: {pad: 4}}]",
    )
    classes: Annotated[int, Field(ge=2)] | None = Field(
        None, description="spiral / blobs: number of classes; null: 3"
    )
    dim: PositiveInt | None = Field(None, description="blobs: dimensions; null: 2")
    noise: Annotated[float, Field(ge=0)] | None = Field(
        None, description="spiral / blobs: noise level; null: 0.2 (spiral), 1.0 (blobs)"
    )

    @field_validator("features", "augment")
    @classmethod
    def _known_names(cls, items, info):
        valid = {"features": FEATURES, "augment": AUGMENTATIONS}[info.field_name]
        for item in items or []:
            for name in [item] if isinstance(item, str) else item:
                if name not in valid:
                    raise ValueError(f"unknown name {name!r}; valid: {', '.join(sorted(valid))}")
        if info.field_name == "features" and items:
            try:
                normalize_feature_spec(items)  # the options of each feature
            except ConfigError as err:
                raise ValueError(str(err)) from None
        return items

    @model_validator(mode="after")
    def _consistent(self):
        if self.dataset == "npz" and not self.path:
            raise ValueError("dataset npz needs data.path (the .npz file)")
        if self.val_fraction is not None and self.split.val is not None:
            raise ValueError("give either data.split.val or data.val_fraction, not both")
        return self


class ModelConfig(_Strict):
    """The model: a fully connected network (mlp), k-nearest neighbours (knn), or an
    autoencoder that learns to rebuild its input from a short code."""

    type: MODEL_TYPE_NAMES = Field("mlp", description="the kind of model")
    hidden_dims: list[PositiveInt] = Field(
        [100], description="units of each hidden layer; [] is a linear classifier"
    )
    activation: ACTIVATION_NAMES = Field("relu", description="nonlinearity after each hidden layer")
    normalization: NORMALIZATION_NAMES | None = Field(
        None, description="normalisation after each hidden affine layer; null: none"
    )
    dropout: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="probability of dropping a hidden unit while training"
    )
    weight_scale: Annotated[float, Field(gt=0)] = Field(
        1e-2, description="standard deviation of the initial weights"
    )
    init: INIT_NAMES | None = Field(
        None, description="scale initial weights by fan-in (he) or fan-in and fan-out (xavier)"
    )
    reg: Annotated[float, Field(ge=0)] = Field(
        0.0, description="L2 regularisation: the loss adds 0.5 * reg * sum(W**2)"
    )
    loss: LOSS_NAMES = Field(
        "softmax",
        description="data loss: cross-entropy (softmax), multiclass hinge (svm), one-vs-all "
        "squared hinge (l2svm, the L2-SVM) or squared error (mse)",
    )
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0,
        description="softmax loss: the target of an example is (1 - eps) on its class plus "
        "eps / classes on every class (Szegedy et al. 2016); 0: one-hot targets",
    )
    dtype: DTYPE_NAMES = Field(
        "float32", description="floating-point type of the parameters and computations"
    )
    k: PositiveInt | list[PositiveInt] = Field(
        1,
        description="neighbours that vote; a list is cross-validated on the training split "
        "and the best mean accuracy wins",
    )
    metric: METRIC_NAMES = Field("l2", description="distance between examples")
    folds: Annotated[int, Field(ge=2)] = Field(5, description="cross-validation folds")
    code_dim: PositiveInt | None = Field(
        None, description="autoencoder: size m of the code z = W x (fewer than the inputs)"
    )
    tied: bool = Field(
        True,
        description="autoencoder: decode with the transpose of the encoder (x_hat = W^T W x, "
        "the course's model); false: separate encoder and decoder with biases",
    )
    code_activation: ACTIVATION_NAMES | None = Field(
        None, description="autoencoder: nonlinearity on the code; null: a linear autoencoder"
    )

    @model_validator(mode="after")
    def _autoencoder_has_a_code(self):
        if self.type == "autoencoder" and self.code_dim is None:
            raise ValueError("model.type autoencoder needs model.code_dim (the code's size)")
        return self


class ScheduleConfig(_Strict):
    """How the learning rate changes while training, step by step (see
    nnctl/training/schedules.py): rate = train.learning_rate * factor(step)."""

    type: one_of(SCHEDULES) = Field(
        "cosine",
        description="how the rate changes: constant; step: times gamma every step_epochs "
        "epochs; exponential: times gamma every epoch; cosine: half a cosine from the rate down "
        "to final_fraction of it, per step",
    )
    warmup_epochs: Annotated[float, Field(ge=0)] = Field(
        0.0,
        description="epochs (may be fractional) over which the rate rises linearly from "
        "rate / warmup steps to the rate, per step; 0: no warmup",
    )
    step_epochs: PositiveInt = Field(10, description="step: epochs between two decays")
    gamma: Annotated[float, Field(gt=0, le=1)] = Field(
        0.1, description="step, exponential: the factor of each decay"
    )
    final_fraction: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0, description="cosine: the rate of the last step as a fraction of train.learning_rate"
    )


class TrainConfig(_Strict):
    """Minibatch optimisation of an mlp."""

    optimizer: OPTIMIZERS = Field("sgd", description="the update rule")
    learning_rate: Annotated[float, Field(gt=0)] = Field(
        1e-3, description="step size of the update rule at the first epoch"
    )
    momentum: Annotated[float, Field(ge=0, lt=1)] | None = Field(
        None, description="sgd_momentum's momentum; null: 0.9"
    )
    weight_decay: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="decoupled weight decay of the adamw rule: every step also does "
        "w -= learning_rate * weight_decay * w; null: 0.01",
    )
    lr_decay: Annotated[float, Field(gt=0, le=1)] = Field(
        1.0, description="the learning rate is multiplied by this after every epoch"
    )
    schedule: ScheduleConfig | None = Field(
        None,
        description="a learning-rate schedule applied at every step (instead of lr_decay), "
        "stored in checkpoints; null: the rate changes only by lr_decay",
    )
    batch_size: PositiveInt = Field(100, description="examples per update")
    epochs: PositiveInt = Field(10, description="passes over the training split")
    early_stopping: PositiveInt | None = Field(
        None,
        description="patience: stop after this many epochs without a better validation "
        "accuracy; null: never stop early",
    )
    num_train_samples: PositiveInt | None = Field(
        1000,
        description="the training accuracy (train_acc in history.csv) is measured on a "
        "random subsample of this many training examples, drawn anew each epoch; null: all of them",
    )
    num_val_samples: PositiveInt | None = Field(
        None, description="validation accuracy is measured on this many; null: all of them"
    )
    log_to: list[one_of(LIVE_LOGGERS)] = Field(
        [],
        description="also log the loss and epoch records while training: tensorboard writes "
        "event files into the run folder's tensorboard/ (needs nnctl[tensorboard])",
    )

    @model_validator(mode="after")
    def _one_way_to_decay(self):
        if self.schedule is not None and self.lr_decay != 1.0:
            raise ValueError(
                "give train.schedule or train.lr_decay, not both (a step or exponential "
                "schedule decays per epoch too)"
            )
        return self


class SchedulerConfig(_Strict):
    """Which trials of a sweep train on: ASHA (asynchronous successive halving) pauses every
    trial at rungs of min_epochs * reduction_factor^k epochs (below train.epochs) and lets
    only the best 1/reduction_factor of the trials that reached a rung go on."""

    type: Literal["asha"] = Field("asha", description="the scheduler")
    min_epochs: PositiveInt = Field(1, description="epochs of the first rung")
    reduction_factor: Annotated[int, Field(ge=2)] = Field(
        3,
        description="each rung is this many times the epochs of the one before; the top "
        "1/reduction_factor of the trials at a rung are promoted to the next",
    )


class SweepConfig(_Strict):
    """The search space of `nnctl sweep` (ignored by `nnctl train`)."""

    method: Literal["grid", "random", "tpe"] = Field(
        "grid",
        description="every combination (grid), sweep.trials random draws, or sweep.trials "
        "points proposed by Optuna's TPE as results come in (pip install 'nnctl[optuna]')",
    )
    trials: PositiveInt | None = Field(
        None, description="random search and tpe: points to draw or propose"
    )
    metric: Literal["val_acc", "train_acc"] = Field(
        "val_acc", description="what is maximised to pick the best trial"
    )
    repeats: PositiveInt = Field(1, description="training seeds per point (seed, seed+1, ...)")
    order: Literal["given", "shuffled"] = Field(
        "given",
        description="the grid's points in the order of the lists, or shuffled (by the seed) so "
        "a sweep stopped early has covered the space evenly",
    )
    scheduler: SchedulerConfig | None = Field(
        None,
        description="stop unpromising trials early (asha); null: every trial trains all "
        "train.epochs",
    )
    params: dict[str, Any] = Field(
        {},
        description="dotted key -> list of values, or (random) {uniform | log_uniform | "
        "int_uniform: [low, high]}",
    )


class ExperimentConfig(_Strict):
    """An experiment file."""

    name: Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NAME_PATTERN)] = (
        Field("experiment", description="names the run folder: <timestamp>_<name>")
    )
    seed: NonNegativeInt = Field(
        0, description="seeds every random draw (data, initial weights, shuffling, dropout)"
    )
    data: DataConfig = Field(DataConfig(), description="the data")
    model: ModelConfig = Field(ModelConfig(), description="the model")
    train: TrainConfig = Field(
        TrainConfig(), description="the optimisation (mlp and autoencoder only)"
    )
    sweep: SweepConfig | None = Field(
        None, description="the search space of `nnctl sweep`; null: no sweep"
    )

    @model_validator(mode="after")
    def _sweeps_rank_classifiers(self):
        if self.sweep is not None and self.model.type == "autoencoder":
            raise ValueError(
                "sweeps rank trials by accuracy, which an autoencoder does not have; "
                "train autoencoders with `nnctl train` and compare them with `nnctl compare`"
            )
        return self


# ---------------------------------------------------------------------------------------------
# Keys that only matter in some settings


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
            deciding = ", ".join(f"{d} is {_short(_value_at(config, d))}" for d in scope.deciding)
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
    model = _schema_at(section.split(".") if section else [])
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


# ---------------------------------------------------------------------------------------------
# YAML


# parse_yaml (with its limits on size, nesting and aliases) lives in nnctl.safeyaml.


def set_dotted(data, key, value):
    """data[a][b][c] = value for key 'a.b.c', creating mappings on the way."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


def parse_override(text):
    """'train.learning_rate=5e-4' -> ('train.learning_rate', 0.0005); the value is YAML, read
    with the same limits and checks as a file."""
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", key.strip()):
        raise ConfigError(
            f"override {_short(text)} is not KEY=VALUE with a dotted key (e.g. train.epochs=5)"
        )
    data, _ = parse_yaml(value, source=f"override {key.strip()}")
    return key.strip(), data


def validate(data, positions=None, source="<config>", override_keys=(), check_unused=False):
    """ExperimentConfig from plain data, or ConfigError listing every problem.

    check_unused: also refuse keys that were given but have no effect in this setting (see
    SCOPES). Only for data a person wrote: a resolved config (to_yaml) gives every key.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        where = _where("", positions or {}, source, ())
        raise ConfigError(
            f"{where}: an experiment file is a mapping of keys (key: value), got {_kind(data)}"
        )
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as err:
        errors = _without_union_noise(err.errors())
        problems = [_describe(e, positions or {}, source, set(override_keys)) for e in errors]
        raise ConfigError("\n".join(shortlist(problems))) from None
    if check_unused:
        problems = [
            f"{_where(key, positions or {}, source, set(override_keys))}: {problem}"
            for key, problem in unused_keys(config)
        ]
        if problems:
            raise ConfigError("\n".join(shortlist(problems)))
    return config


def _kind(value):
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


_UNION_LABEL = re.compile(
    r".*\[|(constrained|function)-[a-z-]+$|(int|str|float|bool|dict|list|none)$"
)


def _clean_loc(loc):
    """The loc of a pydantic error without the union-branch labels pydantic inserts
    ('constrained-int', 'list[constrained-int]', "literal['hog',...]", 'function-after[...]',
    'int', ...); a key the user wrote, such as 'hidden-dims', stays."""
    return tuple(p for p in loc if isinstance(p, int) or not _UNION_LABEL.match(p))


def _without_union_noise(errors):
    """One error per key: where a union's branches all failed, keep the most specific."""
    for e in errors:
        e["loc"] = _clean_loc(e["loc"])
    locs = [e["loc"] for e in errors]
    kept, seen = [], set()
    for e in errors:
        deeper = any(other != e["loc"] and other[: len(e["loc"])] == e["loc"] for other in locs)
        if not deeper and e["loc"] not in seen:
            seen.add(e["loc"])
            kept.append(e)
    return kept


def load_config(path, overrides=(), sweep_params=None):
    """Read, override and validate an experiment file. Returns ExperimentConfig.

    sweep_params: {dotted key: [values]} added to the sweep's params (the lists of a
    command-line multirun, nnctl.sweep.multirun); a file without a sweep block gets a grid.

    Every mistake is a ConfigError naming file:line:column (or the override): a file that is
    missing, too large, empty or not YAML; limits on nesting and aliases; duplicate keys;
    unknown, ill-typed or impossible values; keys that have no effect in this setting.
    """
    path = Path(path)
    data, positions = parse_yaml(_read_text(path), source=str(path))
    if data is None:
        raise ConfigError(
            f"{path}: the experiment file holds no settings (it is empty or only comments); "
            "`nnctl init` writes a starter file"
        )
    if not isinstance(data, dict):
        validate(data, positions, str(path))  # raises: the file is not a mapping
    keys = []
    if overrides or sweep_params:
        data = _unshared(data)  # an override must not reach the other users of an alias
    for item in overrides:
        key, value = parse_override(item)
        set_dotted(data, key, value)
        keys.append(key)
    if sweep_params:
        if data.get("sweep") is None:
            data["sweep"] = {}
        sweep = data["sweep"]
        params = sweep.get("params") if isinstance(sweep, dict) else None
        if isinstance(sweep, dict) and (params is None or isinstance(params, dict)):
            sweep["params"] = {**(params or {}), **sweep_params}  # else validation says why
            keys += [f"sweep.params.{key}" for key in sweep_params]
    return validate(data, positions, str(path), keys, check_unused=True)


def _read_text(path):
    """The text of an experiment file, refusing more than MAX_BYTES before reading it all."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"experiment file {path} does not exist") from None
    except OSError as err:
        raise ConfigError(f"experiment file {path} cannot be read ({err.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(
            f"{path}: more than {MAX_BYTES:,} bytes, the limit for an experiment file"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"experiment file {path} is not UTF-8 text (byte {err.start}: {err.reason})"
        ) from None


def _unshared(value):
    """value with every dict and list copied, so no two keys share one (YAML aliases do)."""
    if isinstance(value, dict):
        return {key: _unshared(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshared(item) for item in value]
    return value


class _Dumper(yaml.SafeDumper):
    """Block-style mappings, with lists of plain values kept on one line ([100, 100])."""


def _represent_list(dumper, value):
    flow = all(not isinstance(v, (dict, list)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dotted_items(data, prefix=""):
    """{dotted key: value} of a config dict, sections followed into; lists stay values.
    E.g. {"train": {"epochs": 5}} -> {"train.epochs": 5}."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(dotted_items(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(a, b, prefix=""):
    """The dotted keys whose values differ between two config dicts, each described."""
    out = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}{key}"
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            out += config_differences(a[key], b[key], path + ".")
        elif a.get(key) != b.get(key):
            out.append(f"{path} ({a.get(key)!r} before, {b.get(key)!r} now)")
    return out


def to_yaml(config):
    """The resolved config as YAML text (defaults filled in), readable by load_config."""
    return yaml.dump(
        config.model_dump(mode="json"), Dumper=_Dumper, sort_keys=False, default_flow_style=False
    )


# ---------------------------------------------------------------------------------------------
# Error messages


def _submodel(annotation):
    """The pydantic model class in annotation (itself, or a branch of its union), or None."""
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _schema_at(loc):
    """The pydantic model class reached by following loc from ExperimentConfig, or None."""
    model = ExperimentConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        model = _submodel(field.annotation)
        if model is None:
            return None
    return model


def schema_fields(model=ExperimentConfig, prefix=""):
    """(dotted key, pydantic FieldInfo) of every key of the schema, each section before its
    keys, in the schema's order."""
    for name, field in model.model_fields.items():
        yield prefix + name, field
        section = _submodel(field.annotation)
        if section is not None:
            yield from schema_fields(section, f"{prefix}{name}.")


def _where(dotted, positions, source, override_keys):
    """'file:line:col' of the key (or of its nearest written parent), or 'override KEY'."""
    if any(dotted == k or dotted.startswith(k + ".") for k in override_keys):
        return f"override {dotted}"
    key_path = dotted
    while key_path and key_path not in positions:
        key_path = key_path.rpartition(".")[0]
    if key_path in positions:
        line, column = positions[key_path]
        return f"{source}:{line}:{column}"
    return source


def _short(value, limit=80):
    """repr(value) cut to about limit characters, without building the repr of a huge value."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict = 3, 8, 8
    short.maxstring = short.maxother = limit
    text = short.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Names people carry over from other tools, and where nnctl keeps that setting.
SYNONYMS = {
    "lr": "train.learning_rate",
    "weight_decay": "model.reg",
    "num_epochs": "train.epochs",
    "patience": "train.early_stopping",
    "layers": "model.hidden_dims",
}


def suggest(parent, key):
    """Dotted keys the unknown `key` under section `parent` ('' for the top) probably meant:
    the same name spelt with other case, hyphens or underscores; a synonym; the same name in
    another section; a near spelling here; a near spelling anywhere. [] if nothing is close."""

    def norm(name):
        return re.sub(r"[-_ ]", "", name.lower())

    model = _schema_at(parent.split(".") if parent else [])
    here = [
        f"{parent}.{name}" if parent else name for name in (model.model_fields if model else [])
    ]
    everywhere = [dotted for dotted, _ in schema_fields()]
    wanted = norm(key)
    for candidates in (here, everywhere):
        same = [dotted for dotted in candidates if norm(dotted.rpartition(".")[2]) == wanted]
        if same:
            return same[:3]
        if candidates is here and wanted in map(norm, SYNONYMS):
            return [next(v for k, v in SYNONYMS.items() if norm(k) == wanted)]
    for candidates, cutoff in ((here, 0.6), (everywhere, 0.75)):
        names = {norm(dotted.rpartition(".")[2]): dotted for dotted in reversed(candidates)}
        close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=cutoff)
        if close:
            return [names[close[0]]]
    return []


def _describe(error, positions, source, override_keys):
    loc = list(_clean_loc(error["loc"]))
    dotted = ".".join(str(p) for p in loc if not isinstance(p, int))
    display = ".".join(clip(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(
        ".[", "["
    )
    where = _where(dotted, positions, source, override_keys)
    kind, got = error["type"], error.get("input")
    if kind == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int))
        close = suggest(parent, str(loc[-1]))
        if close:
            return f"{where}: {display}: unknown key — did you mean {' or '.join(close)}?"
        section = _schema_at(parent.split(".") if parent else [])
        valid = f" (valid keys: {', '.join(section.model_fields)})" if section else ""
        return f"{where}: {display}: unknown key{valid}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{where}: {display}: expected one of {expected}, got {_short(got)}"
    if kind == "value_error":
        return f"{where}: {display or 'config'}: {error['msg'].removeprefix('Value error, ')}"
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        return (
            f"{where}: {display}: only letters, digits, '.', '_' and '-' are allowed "
            f"(pattern {pattern}), got {_short(got)}"
        )
    if kind == "string_too_long":
        limit = error["ctx"]["max_length"]
        return (
            f"{where}: {display}: at most {limit} characters (it becomes part of a folder "
            f"name), got {len(got)}"
        )
    message = error["msg"][:1].lower() + error["msg"][1:]
    return f"{where}: {display}: {message}, got {_short(got)}"
