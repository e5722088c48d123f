"""Command-line multiruns: KEY=V1,V2 overrides build the grid; only top-level commas split."""

import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.errors import ConfigError
from nnctl.sweep.multirun import split_overrides, split_top_level


@pytest.mark.parametrize(
    "text,parts",
    [
        ("1e-3", ["1e-3"]),
        ("1e-3,3e-3,1e-2", ["1e-3", "3e-3", "1e-2"]),
        ("[100,50]", ["[100,50]"]),
        ("[100],[200,100]", ["[100]", "[200,100]"]),
        ("{a: 1, b: [2,3]},{a: 2}", ["{a: 1, b: [2,3]}", "{a: 2}"]),
        ("'a,b',c", ["'a,b'", "c"]),
        ('"x,[y",z', ['"x,[y"', "z"]),
        ("", [""]),
    ],
)
def test_split_top_level(text, parts):
    assert split_top_level(text) == parts


def test_split_overrides_parses_each_value_as_yaml_and_leaves_single_values():
    plain, lists = split_overrides(
        [
            "train.learning_rate=1e-3,3e-3",
            "model.hidden_dims=[100,50]",
            "model.hidden_dims=[100],[200,100]",
            "name=x",
            "model.activation=relu,tanh",
        ]
    )
    assert plain == ["model.hidden_dims=[100,50]", "name=x"]
    assert lists == {
        "train.learning_rate": [1e-3, 3e-3],
        "model.hidden_dims": [[100], [200, 100]],
        "model.activation": ["relu", "tanh"],
    }
    with pytest.raises(ConfigError, match="model.reg: the list of values '0,' has an empty"):
        split_overrides(["model.reg=0,"])


TOY = """\
name: toy
data: {dataset: blobs, classes: 3, dim: 6, split: {train: 90, val: 30, test: 0}}
model: {hidden_dims: [8]}
train: {epochs: 1}
"""


def dry_run(tmp_path, *args, text=TOY):
    path = tmp_path / "toy.yaml"
    path.write_text(text)
    return CliRunner().invoke(main, ["sweep", str(path), *args, "--dry-run"])


def test_a_multirun_builds_the_grid_without_a_sweep_block(tmp_path):
    result = dry_run(
        tmp_path, "train.learning_rate=1e-3,3e-3,1e-2", "model.reg=0,1e-3", "train.epochs=2"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == "6 trials"
    assert lines[0].split() == ["1", "seed=0", "train.learning_rate=0.001", "model.reg=0"]
    assert lines[5].split() == ["6", "seed=0", "train.learning_rate=0.01", "model.reg=0.001"]


def test_a_bracketed_list_is_one_value_and_a_file_sweep_block_is_extended(tmp_path):
    with_block = TOY + "sweep: {repeats: 2, params: {model.reg: [0.0, 0.1]}}\n"
    result = dry_run(tmp_path, "model.hidden_dims=[8,4]", "train.epochs=1,2", text=with_block)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "8 trials"  # 2 reg x 2 epochs x 2 repeats
    alone = dry_run(tmp_path, "model.hidden_dims=[8,4]")
    assert alone.exit_code == 2 and "no sweep: block" in alone.output


def test_multirun_values_are_checked_like_any_sweep_point(tmp_path):
    result = dry_run(tmp_path, "train.learning_rate=1e-3,-1")
    assert result.exit_code == 2
    assert "sweep point (train.learning_rate=-1)" in result.output
    unused = dry_run(tmp_path, "train.momentum=0.5,0.9")
    assert unused.exit_code == 2
    assert unused.output.startswith("error: override sweep.params.train.momentum: ")
    assert "has no effect: train.momentum is used only when" in unused.output
