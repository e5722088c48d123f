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
        ("train: {optimizer: adamax}", "train.optimizer: expected one of 'sgd'"),
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


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("train: {epochs: true}", "train.epochs: input should be a valid integer, got True"),
        ("train: {epochs: 3.0}", "train.epochs: input should be a valid integer, got 3.0"),
        ("train: {learning_rate: true}", "train.learning_rate: input should be a valid number"),
        ("train: {learning_rate: '1e-3'}", "train.learning_rate: input should be a valid number"),
        ("train: {learning_rate: .inf}", "train.learning_rate: input should be a finite number"),
        ("train: {momentum: false, optimizer: sgd_momentum}", "train.momentum: input should be"),
        ("name: 123", "name: input should be a valid string, got 123"),
        ("train: {optimizer: 1}", "train.optimizer: expected one of 'sgd'"),
        ("data: {download: 'yes'}", "data.download: input should be a valid boolean, got 'yes'"),
        ("data: {root: 5}", "data.root: input should be a valid string, got 5"),
        ("model: {hidden_dims: [true]}", "model.hidden_dims[0]: input should be a valid integer"),
        ("model: {type: knn, k: [1, true]}", "model.k[1]: input should be a valid integer"),
    ],
)
def test_types_are_strict(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text + "\n"))
    assert fragment in str(err.value) and len(str(err.value).splitlines()) == 1


def test_an_int_is_still_a_float(tmp_path):
    config = load_config(write(tmp_path, "train: {learning_rate: 1}\nmodel: {reg: 0}\n"))
    assert config.train.learning_rate == 1.0 and config.model.reg == 0.0


def test_name_is_checked_fully(tmp_path):
    longest = "n" * 100
    assert load_config(write(tmp_path, f"name: {longest}\n")).name == longest
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, f"name: {longest}x\n"))
    assert str(err.value).endswith(
        ":1:1: name: at most 100 characters (it becomes part of a folder name), got 101"
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "name: Run/1\n"))
    assert str(err.value).endswith(
        "name: only letters, digits, '.', '_' and '-' are allowed "
        "(pattern ^[A-Za-z0-9._-]+$), got 'Run/1'"
    )
    with pytest.raises(ConfigError, match="name: string should have at least 1 character"):
        load_config(write(tmp_path, "name: ''\n"))


def test_the_longest_name_fits_a_folder_name():
    # <timestamp>_<name>, a collision suffix and a sweep suffix, within 255 bytes.
    longest = "2026-11-23T14-05-32_" + "n" * 100 + "_9999" + "-sweep_9999"
    assert len(longest.encode()) <= 255


@pytest.mark.parametrize(
    "text,suggestion",
    [
        ("hidden-dims: [10]", "hidden-dims: unknown key — did you mean model.hidden_dims?"),
        ("model: {hidden-dims: [10]}", "did you mean model.hidden_dims?"),
        ("model: {Hidden_Dims: [10]}", "did you mean model.hidden_dims?"),
        ("model: {hiddendims: [10]}", "did you mean model.hidden_dims?"),
        ("model: {HIDDEN-DIMS: [10]}", "did you mean model.hidden_dims?"),
        ("train: {BATCHSIZE: 5}", "did you mean train.batch_size?"),
        (
            "train: {metric: l1}",
            "train.metric: unknown key — did you mean model.metric or sweep.metric?",
        ),
        ("train: {learning-rate: 0.1}", "did you mean train.learning_rate?"),
        ("train: {lerning_rate: 0.1}", "did you mean train.learning_rate?"),
        ("learning_rate: 0.1", "did you mean train.learning_rate?"),
        ("train: {lr: 0.1}", "did you mean train.learning_rate?"),
        ("train: {reg: 0.1}", "train.reg: unknown key — did you mean model.reg?"),
        ("data: {normalisation: layernorm}", "did you mean model.normalization?"),
        ("modle: {}", "modle: unknown key — did you mean model?"),
        ("data: {split: {trian: 5}}", "did you mean data.split.train?"),
        ("model: {metrc: l1}", "did you mean model.metric?"),
        ("batch-size: 5", "did you mean train.batch_size?"),
    ],
)
def test_did_you_mean_finds_every_kind_of_typo(tmp_path, text, suggestion):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text + "\n"))
    assert suggestion in str(err.value)


def test_no_suggestion_lists_the_valid_keys(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "model: {zzzz: 1}\n"))
    assert str(err.value).endswith(
        "model.zzzz: unknown key (valid keys: type, hidden_dims, activation, normalization, "
        "dropout, weight_scale, init, reg, loss, label_smoothing, dtype, k, metric, folds, "
        "code_dim, tied, code_activation)"
    )


def test_a_huge_wrong_value_is_not_printed(tmp_path):
    values = ", ".join(["1"] * 50_000)
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, f"seed: [{values}]\n"))
    assert len(str(err.value)) < len(str(tmp_path)) + 150
