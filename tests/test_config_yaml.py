"""Experiment files that must be refused quickly, in one line naming what and where: alias
bombs, oversized and endless files, deep nesting, recursive aliases, duplicate keys, keys that
are not names, empty files; and the same for KEY=VALUE overrides."""

import time
from pathlib import Path

import pytest

from nnctl.config import load_config, parse_override
from nnctl.errors import ConfigError
from nnctl.safeyaml import LOADERS, MAX_BYTES, MAX_DEPTH, MAX_NODES, parse_yaml


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(call, *args):
    """(message, seconds) of the ConfigError call(*args) raises."""
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        call(*args)
    return str(err.value), time.perf_counter() - start


def list_bomb(levels=9, width=10):
    """'Billion laughs': each anchor is a list of `width` aliases to the one before, so the
    last expands to width**levels scalars (10**9) while the text stays ~400 bytes."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return lines


def mapping_bomb(levels=9, width=10):
    """The same with mappings: every key of the expanded tree has a dotted path, so anything
    that walks the keys (positions, validation) visits width**levels of them."""
    lines = [f"x0: &x0 {{{', '.join(f'k{j}: lol' for j in range(width))}}}"]
    for i in range(1, levels):
        items = ", ".join(f"k{j}: *x{i - 1}" for j in range(width))
        lines.append(f"x{i}: &x{i} {{{items}}}")
    return lines


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
@pytest.mark.parametrize("bomb", [list_bomb, mapping_bomb])
def test_alias_bombs_are_refused_fast_without_expanding(tmp_path, loader, bomb):
    # Placed where the schema accepts anything (sweep.params), so only the guard stops it.
    lines = bomb()
    text = "sweep:\n  params:\n" + "".join(f"    {line}\n" for line in lines)
    message, seconds = refused(parse_yaml, text, "exp.yaml", loader)
    assert seconds < 1.0
    assert f"more than {MAX_NODES:,} values once its aliases are expanded" in message
    # The budget is crossed inside the fifth anchor (line 7), which alone expands to 111,111
    # values (a list) or 222,221 (a mapping, whose keys count too).
    assert message.startswith("exp.yaml:7:")
    assert len(message.splitlines()) == 1 and len(message) < 250  # never the value itself


def test_alias_bomb_in_a_file_is_refused_by_load_config(tmp_path):
    path = write(tmp_path, "sweep:\n  params:\n" + "".join(f"    {x}\n" for x in mapping_bomb()))
    message, seconds = refused(load_config, path)
    assert seconds < 1.0 and message.startswith(f"{path}:7:")


def test_merge_key_bombs_are_counted_too(tmp_path):
    # `<<` copies the merged mapping's entries into each mapping that merges it.
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for i in range(1, 9):
        merged = ", ".join([f"*m{i - 1}"] * 10)
        lines.append(f"m{i}: &m{i} {{<<: [{merged}], z{i}: 0}}")
    message, seconds = refused(parse_yaml, "\n".join(lines) + "\n", "exp.yaml")
    assert seconds < 1.0 and "once its aliases are expanded" in message


def test_many_aliases_within_the_budget_are_fine():
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\nc: {x: *a}\n"
    data, positions = parse_yaml(text)
    assert data == {"a": [1, 2, 3], "b": [[1, 2, 3]] * 3, "c": {"x": [1, 2, 3]}}
    assert positions["c.x"] == (3, 5)


def test_a_recursive_alias_is_refused():
    message, _ = refused(parse_yaml, "a: &x [1, *x]\n", "exp.yaml")
    assert message == (
        "exp.yaml:1:11: alias *x refers to a collection that contains it (a recursive structure)"
    )


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
@pytest.mark.parametrize(
    "text",
    [
        "[" * 200_000 + "]" * 200_000,  # PyYAML's composer recurses once per level
        "a: " + "{b: " * 5000 + "1" + "}" * 5000,
        "".join("  " * i + f"k{i}:\n" for i in range(300)),
    ],
    ids=["flow-sequences", "flow-mappings", "block-mappings"],
)
def test_deep_nesting_is_refused_fast_without_recursion_error(text, loader):
    message, seconds = refused(parse_yaml, text, "exp.yaml", loader)
    assert seconds < 1.0
    assert f"nesting deeper than {MAX_DEPTH} levels" in message and message.startswith("exp.yaml:")


def test_nesting_through_aliases_counts():
    # Each part nests 60 levels; together, through the alias, 110.
    text = "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 50 + "*a" + "]" * 50 + "\n"
    message, _ = refused(parse_yaml, text, "exp.yaml")
    assert message.startswith("exp.yaml:2:54: nesting deeper than 100 levels")


def test_nesting_at_the_limit_is_fine():
    depth = MAX_DEPTH - 1  # the innermost scalar is a level too
    data, _ = parse_yaml("[" * depth + "1" + "]" * depth)
    for _ in range(depth):
        data = data[0]
    assert data == 1


def test_oversized_text_is_refused_with_the_limit():
    message, seconds = refused(parse_yaml, "name: '" + "x" * MAX_BYTES + "'\n", "exp.yaml")
    assert seconds < 1.0
    assert message == (
        f"exp.yaml: {MAX_BYTES + 9:,} bytes is more than the {MAX_BYTES:,}-byte limit "
        "for an experiment file"
    )


def test_oversized_file_is_refused_with_the_limit(tmp_path):
    path = write(tmp_path, "#" * (MAX_BYTES + 1))
    message, _ = refused(load_config, path)
    assert message == f"{path}: more than {MAX_BYTES:,} bytes, the limit for an experiment file"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_refused_after_reading_the_limit():
    message, seconds = refused(load_config, "/dev/zero")
    assert seconds < 1.0 and "the limit for an experiment file" in message


def test_duplicate_keys_name_both_lines(tmp_path):
    path = write(
        tmp_path,
        "train:\n  epochs: 3\nmodel:\n  reg: 0.1\n  reg: 0.2\ntrain:\n  epochs: 4\n",
    )
    message, _ = refused(load_config, path)
    assert message.splitlines() == [
        f"{path}:5:3: model.reg: duplicate key (first given at 4:3); "
        "a key may appear once in a mapping",
        f"{path}:6:1: train: duplicate key (first given at 1:1); "
        "a key may appear once in a mapping",
    ]


def test_keys_must_be_names(tmp_path):
    path = write(tmp_path, "model:\n  on: 1\n  2: 3\n? [a]\n: 4\n")
    message, _ = refused(load_config, path)
    assert message.splitlines() == [
        f"{path}:2:3: model.on: this key is read as a boolean, not a name (quote it: 'on')",
        f"{path}:3:3: model.2: this key is read as a number, not a name (quote it: '2')",
        f"{path}:4:3: top level: a key must be a name",
    ]


def test_merge_keys_keep_positions_and_let_the_mapping_win():
    data, positions = parse_yaml(
        "base: &b {epochs: 3, batch_size: 9}\ntrain:\n  <<: *b\n  epochs: 5\n"
    )
    assert data["train"] == {"epochs": 5, "batch_size": 9}
    assert positions["train.epochs"] == (4, 3) and positions["train.batch_size"] == (1, 22)


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing here\n  # still nothing\n", "---\n"])
def test_an_empty_file_is_an_error(tmp_path, text):
    path = write(tmp_path, text)
    message, _ = refused(load_config, path)
    assert message == (
        f"{path}: the experiment file holds no settings (it is empty or only comments); "
        "`nnctl init` writes a starter file"
    )


@pytest.mark.parametrize(
    "text,kind", [("- 1\n- 2\n", "a list"), ("just words\n", "a string"), ("3\n", "a number")]
)
def test_the_top_level_must_be_a_mapping(tmp_path, text, kind):
    path = write(tmp_path, text)
    message, _ = refused(load_config, path)
    assert (
        message == f"{path}:1:1: an experiment file is a mapping of keys (key: value), got {kind}"
    )


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    message, _ = refused(load_config, path)
    assert message.startswith(f"experiment file {path} is not UTF-8 text (byte 9")


def test_overrides_get_the_same_limits(tmp_path):
    path = write(tmp_path, "name: x\n")
    bomb = "[" + ", ".join(x.partition(": ")[2] for x in list_bomb()) + "]"
    message, seconds = refused(load_config, path, [f"sweep.params.x={bomb}"])
    assert seconds < 1.0
    assert message.startswith("override sweep.params.x:1:")
    assert "once its aliases are expanded" in message
    message, _ = refused(parse_override, "model={type: knn, type: mlp}")
    assert message == (
        "override model:1:13: type: duplicate key (first given at 1:2); "
        "a key may appear once in a mapping"
    )
    message, _ = refused(parse_override, "model.hidden_dims=" + "[" * 500 + "]" * 500)
    assert "nesting deeper than 100 levels" in message
    message, _ = refused(parse_override, "name=" + "x" * (MAX_BYTES + 1))
    assert "-byte limit" in message


def test_an_override_does_not_change_other_users_of_an_alias(tmp_path):
    path = write(tmp_path, "model: &m {hidden_dims: [5]}\nsweep: {params: {model: [*m]}}\n")
    config = load_config(path, ["model.hidden_dims=[7]"])
    assert config.model.hidden_dims == [7]
    assert config.sweep.params == {"model": [{"hidden_dims": [5]}]}


def test_huge_keys_are_not_repeated_in_messages(tmp_path):
    key = "k" * 400_000  # a key this long must be written as an explicit key (? key)
    path = write(tmp_path, f"? {key}\n: 1\n? {key}\n: 2\n")
    message, seconds = refused(load_config, path)
    assert seconds < 1.0 and len(message) < len(str(path)) + 150
    assert "duplicate key" in message
    path = write(tmp_path, f"model:\n  ? {key}\n  : 1\n")
    message, _ = refused(load_config, path)
    assert "unknown key" in message and len(message) < len(str(path)) + 400


def test_a_flood_of_problems_is_cut_short(tmp_path):
    path = write(tmp_path, "".join(f"k: {i}\n" for i in range(1000)))
    lines = refused(load_config, path)[0].splitlines()
    assert len(lines) == 31 and lines[-1] == "... and 969 more problems"
    path = write(tmp_path, "model: {hidden_dims: [" + ", ".join(["x"] * 1000) + "]}\n")
    lines = refused(load_config, path)[0].splitlines()
    assert len(lines) == 31 and lines[-1] == "... and 970 more problems"
