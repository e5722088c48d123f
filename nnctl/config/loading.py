"""Reading an experiment file: strict YAML, KEY=VALUE overrides, validation against the
schema with every problem reported together, and writing a config back as YAML."""

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from nnctl.config.messages import (
    describe_error,
    kind_of,
    location,
    short_value,
    without_union_noise,
)
from nnctl.config.schema import ExperimentConfig
from nnctl.config.scopes import unused_keys
from nnctl.errors import ConfigError
from nnctl.safeyaml import MAX_BYTES, parse_yaml, shortlist

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
            f"override {short_value(text)} is not KEY=VALUE with a dotted key (e.g. train.epochs=5)"
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
        where = location("", positions or {}, source, ())
        raise ConfigError(
            f"{where}: an experiment file is a mapping of keys (key: value), got {kind_of(data)}"
        )
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as err:
        errors = without_union_noise(err.errors())
        problems = [describe_error(e, positions or {}, source, set(override_keys)) for e in errors]
        raise ConfigError("\n".join(shortlist(problems))) from None
    if check_unused:
        problems = [
            f"{location(key, positions or {}, source, set(override_keys))}: {problem}"
            for key, problem in unused_keys(config)
        ]
        if problems:
            raise ConfigError("\n".join(shortlist(problems)))
    return config


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
