"""The experiment file: strict schema, YAML floats, overrides, and one message per mistake."""

from pathlib import Path

import pytest

from nnctl.config import ExperimentConfig, load_config, parse_override, to_yaml, validate
from nnctl.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_floats_without_a_dot_are_floats(tmp_path):
    config = load_config(
        write(tmp_path, "train: {learning_rate: 1e-3}\nmodel: {reg: 5E4, weight_scale: 2.5e-2}\n")
    )
    assert config.train.learning_rate == 0.001
    assert config.model.reg == 50000.0
    assert config.model.weight_scale == 0.025


def test_defaults_are_filled_in(tmp_path):
    config = load_config(write(tmp_path, "name: tiny\n"))
    assert config == ExperimentConfig(name="tiny")
    assert config.data.dataset == "mnist-mini" and config.train.optimizer == "sgd"


def test_unknown_key_names_path_line_and_suggestion(tmp_path):
    path = write(tmp_path, "name: x\nmodel:\n  hiden_dims: [100]\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert (
        str(err.value)
        == f"{path}:3:3: model.hiden_dims: unknown key — did you mean model.hidden_dims?"
    )


def test_every_problem_is_reported_together(tmp_path):
    text = (
        "data:\n  dataset: cifar11\nmodel:\n  dropout: 1.5\n  activation: gelu\n"
        "train:\n  learning_rate: -1e-3\n  optimizr: adam\n  batch_size: abc\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    lines = str(err.value).splitlines()
    assert len(lines) == 6
    message = str(err.value)
    assert ":2:3: data.dataset: expected one of 'cifar10'" in message and "got 'cifar11'" in message
    assert ":4:3: model.dropout: input should be less than 1, got 1.5" in message
    assert "model.activation: expected one of 'relu'" in message
    assert ":7:3: train.learning_rate: input should be greater than 0, got -0.001" in message
    assert "train.optimizr: unknown key — did you mean train.optimizer?" in message
    assert "train.batch_size: input should be a valid integer" in message and "got 'abc'" in message


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("train: {lr_decay: 0}", "train.lr_decay: input should be greater than 0"),
        ("train: {lr_decay: 1.5}", "train.lr_decay: input should be less than or equal to 1"),
        ("train: {batch_size: 0}", "train.batch_size: input should be greater than 0"),
        ("train: {epochs: -1}", "train.epochs: input should be greater than 0"),
        ("train: {optimizer: adamw}", "train.optimizer: expected one of 'sgd'"),
        ("data: {split: {train: 0}}", "data.split.train: input should be greater than 0"),
        ("data: {split: {val: -1}}", "data.split.val: input should be greater than or equal to 0"),
        ("data: {preprocess: [whiten]}", "data.preprocess[0]: expected one of 'subtract_mean'"),
        ("data: {features: [sift]}", "data.features[0]"),
        ("data: {dataset: npz}", "dataset npz needs data.path"),
        (
            "data: {val_fraction: 0.1, split: {val: 5}}",
            "either data.split.val or data.val_fraction",
        ),
        ("model: {hidden_dims: [100, 0]}", "model.hidden_dims[1]: input should be greater than 0"),
        ("model: {normalization: groupnorm}", "model.normalization: expected one of 'batchnorm'"),
        ("model: {loss: hinge}", "model.loss: expected one of 'softmax'"),
        ("model: {type: knn, k: 0}", "model.k: input should be greater than 0"),
        ("model: {k: [1, 0]}", "model.k[1]: input should be greater than 0"),
        ("seed: -3", "seed: input should be greater than or equal to 0"),
        (
            "name: 'a b'",
            "name: only letters, digits, '.', '_' and '-' are allowed (pattern ^[A-Za-z0-9._-]+$)",
        ),
        ("[1, 2]", "an experiment file is a mapping"),
    ],
)
def test_impossible_values(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=None) as err:
        load_config(write(tmp_path, text + "\n"))
    assert fragment in str(err.value)


def test_yaml_syntax_error_shows_line_and_column(tmp_path):
    path = write(tmp_path, "name: x\ntrain:\n  epochs: [1, 2\n")
    with pytest.raises(ConfigError, match=f"{path}:4:1: invalid YAML"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="experiment file .*nope.yaml does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_overrides(tmp_path):
    path = write(tmp_path, "model: {hidden_dims: [10]}\n")
    config = load_config(
        path, ["train.learning_rate=5e-4", "model.hidden_dims=[200,100]", "data.split.val=7"]
    )
    assert config.train.learning_rate == 5e-4
    assert config.model.hidden_dims == [200, 100]
    assert config.data.split.val == 7
    with pytest.raises(
        ConfigError, match="override train.epochs: train.epochs: input should be greater than 0"
    ):
        load_config(path, ["train.epochs=0"])
    with pytest.raises(
        ConfigError,
        match="override train.epoch: train.epoch: unknown key — did you mean train.epochs",
    ):
        load_config(path, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        parse_override("train.epochs")
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])


def test_resolved_config_round_trips(tmp_path):
    config = load_config(
        write(tmp_path, "model: {hidden_dims: [30, 20], reg: 1e-4}\ntrain: {learning_rate: 3e-4}\n")
    )
    text = to_yaml(config)
    assert "hidden_dims: [30, 20]" in text
    again = load_config(write(tmp_path, text, "again.yaml"))
    assert again == config


def test_validate_plain_data():
    assert validate({"seed": 3}).seed == 3
    with pytest.raises(ConfigError, match="unknown key"):
        validate({"sed": 3})


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_are_valid(path):
    config = load_config(path)
    assert config.name
