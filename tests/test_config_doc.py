"""Every key is discoverable: the reference rendered from the schema (nnctl config schema,
docs/config.md) and the starter files of nnctl init."""

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import (
    ExperimentConfig,
    ScheduleConfig,
    SchedulerConfig,
    SweepConfig,
    load_config,
    schema_fields,
    set_dotted,
    validate,
)
from nnctl.configdoc import reference, render_markdown, render_text, template_names
from nnctl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "config.md"
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
TEMPLATES = sorted((ROOT / "nnctl" / "templates").glob("*.yaml"))
ROWS = {doc.key: doc for doc in reference()}


def dotted_keys(data, prefix=""):
    """Every dotted key of a YAML mapping, sections included (sweep params are values)."""
    for key, value in data.items():
        yield prefix + key
        if isinstance(value, dict) and prefix + key != "sweep.params":
            yield from dotted_keys(value, f"{prefix}{key}.")


def test_docs_config_md_is_the_schema():
    assert DOCS.read_text() == render_markdown(), (
        "docs/config.md differs from the schema; regenerate it with "
        "`nnctl config schema --markdown > docs/config.md`"
    )


@pytest.mark.parametrize("path", CONFIGS + TEMPLATES, ids=lambda p: p.name)
def test_every_key_of_the_shipped_files_is_documented(path):
    docs = DOCS.read_text()
    for key in dotted_keys(yaml.safe_load(path.read_text())):
        assert key in ROWS and ROWS[key].meaning, key
        assert f"`{key}`" in docs or ROWS[key].is_section, key


def test_keys_documented_nowhere_before_are_explained():
    assert "patience" in ROWS["train.early_stopping"].meaning
    assert "training batches only" in ROWS["data.augment"].meaning
    assert "first N examples" in ROWS["data.subsample"].meaning
    assert "held out for validation" in ROWS["data.val_fraction"].meaning
    meaning = ROWS["train.num_train_samples"].meaning
    assert "train_acc in history.csv" in meaning and "subsample" in meaning


def test_rows_give_type_allowed_values_default_and_when():
    momentum = ROWS["train.momentum"]
    assert momentum.type == "number >= 0 and < 1 or null" and momentum.default == "null"
    assert momentum.meaning.endswith(
        "Only when model.type is mlp or autoencoder and train.optimizer is sgd_momentum"
    )
    assert ROWS["model.k"].type == "integer > 0 or list of integer > 0"
    assert ROWS["model.normalization"].type == "batchnorm | layernorm or null"
    assert (
        ROWS["data.features"].type
        == "list of hog | color_histogram | kmeans | {name: {options}} or null"
    )
    assert ROWS["name"].type == "text matching ^[A-Za-z0-9._-]+$, 1 to 100 characters"
    assert ROWS["model.hidden_dims"].default == "[100]"


def test_documented_defaults_are_the_real_defaults():
    defaults = ExperimentConfig().model_dump(mode="json")
    defaults["sweep"] = SweepConfig().model_dump(mode="json")
    defaults["sweep"]["scheduler"] = SchedulerConfig().model_dump(mode="json")
    defaults["train"]["schedule"] = ScheduleConfig().model_dump(mode="json")
    for key, doc in ROWS.items():
        if doc.is_section:
            continue
        value = defaults
        for part in key.split("."):
            value = value[part]
        assert yaml.safe_load(doc.default) == value, key


def test_documented_choices_are_exactly_the_accepted_ones():
    # Every key whose type is a list of names: each name validates, another is refused.
    choice_keys = [k for k, d in ROWS.items() if " | " in d.type and "list" not in d.type]
    assert "data.dataset" in choice_keys and "train.optimizer" in choice_keys
    for key in choice_keys:
        names = ROWS[key].type.removesuffix(" or null").split(" | ")
        for value in names:
            value = yaml.safe_load(value)
            data = {}
            set_dotted(data, key, value)
            if key == "data.dataset" and value == "npz":
                data["data"]["path"] = "x.npz"
            if key == "model.type" and value == "autoencoder":
                data["model"]["code_dim"] = 8
            validate(data)
        wrong = {}
        set_dotted(wrong, key, "no-such-choice")
        with pytest.raises(ConfigError):
            validate(wrong)


def json_schema_keys(schema, node, prefix=""):
    """Dotted keys from pydantic's JSON schema: an enumeration independent of configdoc."""
    for name, prop in node.get("properties", {}).items():
        yield prefix + name
        refs = [prop, *prop.get("anyOf", [])]
        for ref in (r["$ref"].rpartition("/")[2] for r in refs if "$ref" in r):
            yield from json_schema_keys(schema, schema["$defs"][ref], f"{prefix}{name}.")


def test_every_key_of_the_schema_is_documented_with_a_meaning():
    schema = ExperimentConfig.model_json_schema()
    assert set(ROWS) == set(json_schema_keys(schema, schema))
    assert all(field.description for _, field in schema_fields())


def test_markdown_cells_cannot_break_the_table():
    for line in render_markdown().splitlines():
        if line.startswith("| `"):
            assert line.replace("\\|", "").count("|") == 5, line
            assert "<" not in line and "**" not in line, line


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def runner():
    return CliRunner()


def test_config_schema_prints_the_reference(runner):
    result = runner.invoke(main, ["config", "schema"])
    assert result.exit_code == 0 and result.output == render_text()
    assert "train.num_train_samples: integer > 0 or null  (default: 1000)" in result.output
    result = runner.invoke(main, ["config", "schema", "--markdown"])
    assert result.exit_code == 0 and result.output == DOCS.read_text()


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_template_is_a_valid_experiment(path):
    config = load_config(path)
    assert config.name == f"{path.stem}-starter"


def test_the_help_names_every_template(runner):
    assert template_names() == ["features", "knn", "linear", "mlp"]
    help_text = runner.invoke(main, ["init", "--help"]).output
    assert all(name in help_text for name in template_names())


def test_init_writes_a_starter_named_after_the_file(runner, tmp_path):
    path = tmp_path / "sub" / "my-knn.yaml"
    result = runner.invoke(main, ["init", "--template", "knn", str(path)])
    assert result.exit_code == 0 and f"wrote {path}" in result.output
    config = load_config(path)
    assert config.name == "my-knn" and config.model.type == "knn"
    assert f"nnctl train {path} && nnctl eval runs/latest" in path.read_text()


def test_init_defaults_to_the_mlp_template_in_experiment_yaml(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, ["init"]).exit_code == 0
    config = load_config(tmp_path / "experiment.yaml")
    assert config.name == "experiment" and config.model.type == "mlp"


def test_init_never_overwrites(runner, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: precious\n")
    result = runner.invoke(main, ["init", str(path)])
    assert result.exit_code == 2
    assert result.output == f"error: {path} already exists; nnctl init never overwrites a file\n"
    assert path.read_text() == "name: precious\n"


def test_init_refuses_an_unknown_template(runner, tmp_path):
    result = runner.invoke(main, ["init", "--template", "resnet", str(tmp_path / "x.yaml")])
    assert result.exit_code == 2
    assert "no template 'resnet'; valid: features, knn, linear, mlp" in result.output
    assert not (tmp_path / "x.yaml").exists()
