"""The experiment file's schema: every key, its type, its default and what it means.

Every default lives here; the allowed names come from the registries (one_of).
"""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
