"""The experiment file: schema, defaults, strict YAML loading, overrides and error messages.

Every default lives in the schema below. Unknown keys are errors that name the dotted path
and suggest the nearest valid key; all problems in a file are reported together, each with
its line and column.
"""

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nnctl.errors import ConfigError

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]

DATASET_NAMES = Literal["cifar10", "mnist", "fashion-mnist", "mnist-mini", "spiral", "blobs", "npz"]
PREPROCESS_NAMES = Literal["subtract_mean", "standardize", "scale", "flatten", "channels_first"]
OPTIMIZERS = Literal["sgd", "sgd_momentum", "rmsprop", "adam", "adagrad"]
ACTIVATIONS = Literal["relu", "leaky_relu", "sigmoid", "tanh", "swish"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SplitConfig(_Strict):
    train: PositiveInt | None = None  # null: everything before the validation slice
    val: NonNegativeInt | None = None  # null: val_fraction (default 10%) of the training set
    test: NonNegativeInt | None = None  # null: the whole official test set


class DataConfig(_Strict):
    dataset: DATASET_NAMES = "mnist-mini"
    root: str | None = None  # else --data-dir, else $NNCTL_DATA_DIR, else ~/.cache/nnctl
    download: bool = False  # fetch from the canonical source and verify its checksum
    path: str | None = None  # dataset npz: the .npz file, relative to the experiment file
    split: SplitConfig = SplitConfig()
    val_fraction: Annotated[float, Field(gt=0, lt=1)] | None = None
    subsample: PositiveInt | None = None  # cap every split at its first N examples
    preprocess: list[PREPROCESS_NAMES] = []
    features: list[Literal["hog", "color_histogram"] | dict[str, dict[str, Any] | None]] | None = (
        None
    )
    augment: list[Literal["hflip", "crop"] | dict[str, dict[str, Any] | None]] | None = None
    classes: Annotated[int, Field(ge=2)] | None = None  # spiral / blobs: number of classes
    dim: PositiveInt | None = None  # blobs: dimensions
    noise: Annotated[float, Field(ge=0)] | None = None  # spiral / blobs: noise level

    @field_validator("features", "augment")
    @classmethod
    def _known_names(cls, items, info):
        valid = {"features": {"hog", "color_histogram"}, "augment": {"hflip", "crop"}}[
            info.field_name
        ]
        for item in items or []:
            for name in [item] if isinstance(item, str) else item:
                if name not in valid:
                    raise ValueError(f"unknown name {name!r}; valid: {', '.join(sorted(valid))}")
        return items

    @model_validator(mode="after")
    def _consistent(self):
        if self.dataset == "npz" and not self.path:
            raise ValueError("dataset npz needs data.path (the .npz file)")
        if self.val_fraction is not None and self.split.val is not None:
            raise ValueError("give either data.split.val or data.val_fraction, not both")
        return self


class ModelConfig(_Strict):
    type: Literal["mlp", "knn"] = "mlp"
    # mlp
    hidden_dims: list[PositiveInt] = [100]  # [] is a linear classifier
    activation: ACTIVATIONS = "relu"
    normalization: Literal["batchnorm", "layernorm"] | None = None
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0  # probability of dropping a unit
    weight_scale: Annotated[float, Field(gt=0)] = 1e-2  # std of initial weights (init: null)
    init: Literal["he", "xavier"] | None = None
    reg: Annotated[float, Field(ge=0)] = 0.0  # loss += 0.5 * reg * sum(W**2)
    loss: Literal["softmax", "svm", "mse"] = "softmax"
    dtype: Literal["float32", "float64"] = "float32"
    # knn
    k: PositiveInt | list[PositiveInt] = 1  # a list is cross-validated on the training split
    metric: Literal["l2", "l1"] = "l2"
    folds: Annotated[int, Field(ge=2)] = 5


class TrainConfig(_Strict):
    optimizer: OPTIMIZERS = "sgd"
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    momentum: Annotated[float, Field(ge=0, lt=1)] | None = None  # sgd_momentum (default 0.9)
    lr_decay: Annotated[float, Field(gt=0, le=1)] = 1.0  # multiplied in after every epoch
    batch_size: PositiveInt = 100
    epochs: PositiveInt = 10
    early_stopping: PositiveInt | None = None  # patience in epochs on validation accuracy
    num_train_samples: PositiveInt | None = 1000  # training accuracy is measured on this many
    num_val_samples: PositiveInt | None = None  # null: the whole validation split


class SweepConfig(_Strict):
    method: Literal["grid", "random"] = "grid"
    trials: PositiveInt | None = None  # random search only
    metric: Literal["val_acc", "train_acc"] = "val_acc"  # maximised
    repeats: PositiveInt = 1  # training seeds per point
    params: dict[str, Any] = {}


class ExperimentConfig(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")] = "experiment"
    seed: NonNegativeInt = 0
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    sweep: SweepConfig | None = None


# ---------------------------------------------------------------------------------------------
# YAML


class _Loader(yaml.SafeLoader):
    """The safe loader, plus floats written without a dot (1e-3, 5E4), which YAML 1.1 and so
    plain PyYAML read as strings."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml(text, source="<string>"):
    """(data, positions): the YAML document and {dotted key: (line, column)} (1-based)."""
    loader = _Loader(text)
    try:  # one parse gives both the node tree (for positions) and the data
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    positions = {}
    _collect_positions(node, (), positions)
    return data, positions


def _collect_positions(node, prefix, positions):
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = (*prefix, str(key_node.value))
            positions[".".join(path)] = (
                key_node.start_mark.line + 1,
                key_node.start_mark.column + 1,
            )
            _collect_positions(value_node, path, positions)


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
    """'train.learning_rate=5e-4' -> ('train.learning_rate', 0.0005); the value is YAML."""
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", key.strip()):
        raise ConfigError(
            f"override {text!r} is not KEY=VALUE with a dotted key (e.g. train.epochs=5)"
        )
    data, _ = parse_yaml(value, source=f"override {key.strip()}")
    return key.strip(), data


def validate(data, positions=None, source="<config>", override_keys=()):
    """ExperimentConfig from plain data, or ConfigError listing every problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: an experiment file is a mapping of keys, got {type(data).__name__}"
        )
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        errors = _without_union_noise(err.errors())
        problems = [_describe(e, positions or {}, source, set(override_keys)) for e in errors]
        raise ConfigError("\n".join(problems)) from None


def _clean_loc(loc):
    """The loc of a pydantic error without the union-branch labels pydantic inserts
    ('int', 'list[constrained-int]', 'function-after[...]', ...)."""
    return tuple(
        p
        for p in loc
        if isinstance(p, int) or not re.search(r"[\[\]-]|^(int|str|float|bool|dict|list)$", p)
    )


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


def load_config(path, overrides=()):
    """Read, override and validate an experiment file. Returns ExperimentConfig."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"experiment file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"experiment file {path} cannot be read ({err})") from None
    data, positions = parse_yaml(text, source=str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: an experiment file is a mapping of keys, got {type(data).__name__}"
        )
    keys = []
    for item in overrides:
        key, value = parse_override(item)
        set_dotted(data, key, value)
        keys.append(key)
    return validate(data, positions, str(path), keys)


class _Dumper(yaml.SafeDumper):
    """Block-style mappings, with lists of plain values kept on one line ([100, 100])."""


def _represent_list(dumper, value):
    flow = all(not isinstance(v, (dict, list)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


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


def _schema_at(loc):
    """The pydantic model class reached by following loc from ExperimentConfig, or None."""
    model = ExperimentConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if model is None:
            return None
    return model


def _describe(error, positions, source, override_keys):
    loc = [
        part
        for part in error["loc"]
        if not (isinstance(part, str) and ("[" in part or part.startswith("function-")))
    ]
    # pydantic inserts the branch of a union (e.g. 'int', 'list[int]') into loc; drop those.
    loc = [
        p
        for p in loc
        if not (isinstance(p, str) and p in {"int", "str", "float", "bool", "dict", "list"})
    ]
    dotted = ".".join(str(p) for p in loc if not isinstance(p, int))
    display = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(
        ".[", "["
    )
    where = source
    key_path = dotted
    while key_path and key_path not in positions:
        key_path = key_path.rpartition(".")[0]
    if dotted in override_keys or any(dotted.startswith(k + ".") for k in override_keys):
        where = f"override {dotted}"
    elif key_path in positions:
        line, column = positions[key_path]
        where = f"{source}:{line}:{column}"

    kind = error["type"]
    if kind == "extra_forbidden":
        parent = _schema_at([p for p in loc[:-1] if not isinstance(p, int)])
        valid = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        parent_path = display.rpartition(".")[0]
        hint = (
            f" — did you mean {parent_path + '.' if parent_path else ''}{close[0]}?"
            if close
            else ""
        )
        known = f" (valid keys: {', '.join(valid)})" if valid and not close else ""
        return f"{where}: {display}: unknown key{hint}{known}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{where}: {display}: expected one of {expected}, got {error['input']!r}"
    if kind == "value_error":
        return f"{where}: {display or 'config'}: {error['msg'].removeprefix('Value error, ')}"
    got = error.get("input")
    return f"{where}: {display}: {error['msg'].lower()}, got {got!r}"
