"""Search-space expansion: grids, random draws, repeats, invalid points, edge warnings."""

import math

import pytest

from nnctl.config import validate
from nnctl.errors import ConfigError
from nnctl.sweep.space import edge_warnings, expand, points


def config(sweep, **top):
    return validate({"name": "s", "seed": 5, **top, "sweep": sweep})


def test_grid_counts_nested_lists_and_dotted_keys():
    c = config(
        {
            "params": {
                "model.hidden_dims": [[100], [200, 100]],
                "train.learning_rate": [1e-3, 2e-3, 5e-3],
            }
        }
    )
    trials = expand(c)
    assert len(trials) == 6
    assert [t.number for t in trials] == list(range(1, 7))
    assert trials[1].params == {"model.hidden_dims": [100], "train.learning_rate": 2e-3}
    assert trials[4].config.model.hidden_dims == [200, 100]
    assert trials[4].config.train.learning_rate == 2e-3
    assert len({t.id for t in trials}) == 6


def test_repeats_run_each_point_with_several_seeds():
    trials = expand(config({"repeats": 3, "params": {"model.reg": [0.1, 0.2]}}))
    assert len(trials) == 6
    assert [t.config.seed for t in trials] == [5, 6, 7, 5, 6, 7]
    assert [t.repeat for t in trials[:3]] == [0, 1, 2]
    assert trials[0].point == trials[2].point != trials[3].point


def test_random_search_is_reproducible_and_within_bounds():
    sweep = {
        "method": "random",
        "trials": 40,
        "params": {
            "train.learning_rate": {"log_uniform": [1e-5, 1e-1]},
            "model.dropout": {"uniform": [0.0, 0.5]},
            "train.batch_size": {"int_uniform": [16, 64]},
            "model.activation": ["relu", "tanh"],
        },
    }
    a, b = points(config(sweep)), points(config(sweep))
    assert a == b
    assert points(config(sweep, seed=6)) != a
    lrs = [p["train.learning_rate"] for p in a]
    assert all(1e-5 <= v <= 1e-1 for v in lrs)
    logs = [math.log10(v) for v in lrs]
    assert min(logs) < -4 and max(logs) > -2  # spread over the decades, not bunched at the top
    assert all(0 <= p["model.dropout"] <= 0.5 for p in a)
    assert all(
        isinstance(p["train.batch_size"], int) and 16 <= p["train.batch_size"] <= 64 for p in a
    )
    assert {p["model.activation"] for p in a} == {"relu", "tanh"}


def test_invalid_points_stop_everything_and_are_named():
    with pytest.raises(ConfigError) as err:
        expand(config({"params": {"train.learning_rate": [1e-3, -1.0], "model.reg": [0.0]}}))
    message = str(err.value)
    assert "sweep point (train.learning_rate=-1.0, model.reg=0.0)" in message
    assert "train.learning_rate: input should be greater than 0" in message
    with pytest.raises(ConfigError, match="unknown key — did you mean model.dropout"):
        expand(config({"params": {"model.dropuot": [0.1]}}))


@pytest.mark.parametrize(
    "sweep,message",
    [
        ({"params": {}}, "sweep.params is empty"),
        ({"params": {"model.reg": []}}, "list of values is empty"),
        ({"params": {"model.reg": {"log_uniform": [1e-3, 1]}}}, "a grid needs a list"),
        ({"method": "random", "params": {"model.reg": [1]}}, "needs sweep.trials"),
        (
            {"method": "random", "trials": 2, "params": {"model.reg": {"normal": [0, 1]}}},
            "expected a list or one of",
        ),
        (
            {"method": "random", "trials": 2, "params": {"model.reg": {"log_uniform": [0, 1]}}},
            "need low < high",
        ),
        ({"trials": 3, "params": {"model.reg": [1]}}, "sweep.trials is for random search"),
        ({"params": {"sweep.method": ["grid"]}}, "cannot be swept"),
    ],
)
def test_bad_search_spaces(sweep, message):
    with pytest.raises(ConfigError, match=message):
        expand(config(sweep))


def test_no_sweep_block():
    with pytest.raises(ConfigError, match="no sweep: block"):
        expand(validate({}))


def test_the_same_point_runs_once():
    trials = expand(
        config({"method": "random", "trials": 10, "params": {"model.activation": ["relu"]}})
    )
    assert len(trials) == 1


def test_edge_warnings():
    c = config(
        {
            "params": {
                "train.learning_rate": [1e-4, 1e-3, 1e-2],
                "model.reg": [0.0, 0.1],
                "model.activation": ["relu", "tanh", "swish"],
            }
        }
    )
    trials = expand(c)
    [warning] = edge_warnings(
        c, trials, {"train.learning_rate": 1e-2, "model.reg": 0.1, "model.activation": "tanh"}
    )
    assert "train.learning_rate = 0.01 is at the highest end" in warning
    assert "lowest end" in edge_warnings(c, trials, {"train.learning_rate": 1e-4})[0]
    assert (
        edge_warnings(c, trials, {"train.learning_rate": 1e-3, "model.reg": 0.0}) == []
    )  # 2 values: no range
    r = config(
        {"method": "random", "trials": 3, "params": {"model.reg": {"log_uniform": [1e-4, 1.0]}}}
    )
    assert edge_warnings(r, [], {"model.reg": 1e-2}) == []
    assert "highest end" in edge_warnings(r, [], {"model.reg": 0.8})[0]
    assert "lowest end" in edge_warnings(r, [], {"model.reg": 1.2e-4})[0]


def test_a_shuffled_grid_has_the_same_points_in_an_order_set_by_the_seed():
    params = {"train.learning_rate": [1e-4, 1e-3, 1e-2], "model.reg": [0.0, 0.1, 0.2, 0.3]}
    given = points(config({"params": params}))
    shuffled = points(config({"order": "shuffled", "params": params}))
    assert sorted(map(str, shuffled)) == sorted(map(str, given)) and shuffled != given
    assert points(config({"order": "shuffled", "params": params})) == shuffled
    assert points(config({"order": "shuffled", "params": params}, seed=6)) != shuffled
    trials = expand(config({"order": "shuffled", "params": params}))
    assert [t.params for t in trials] == shuffled and [t.number for t in trials] == list(
        range(1, 13)
    )


def test_random_search_never_repeats_a_point():
    sweep = {
        "method": "random",
        "trials": 6,
        "params": {"model.activation": ["relu", "tanh", "swish"], "model.reg": [0.0, 0.1]},
    }
    drawn = points(config(sweep))
    assert len(drawn) == 6 and len({str(p) for p in drawn}) == 6  # all 3 x 2 points
    assert len(expand(config(sweep))) == 6
    # Asking for more points than the space has gives each of them once.
    assert len(points(config({**sweep, "trials": 9}))) == 6
    # Distinct draws of continuous values are what they were: the stream is unchanged.
    continuous = {"method": "random", "trials": 5, "params": {"model.reg": {"uniform": [0, 1]}}}
    first = points(config(continuous))
    assert points(config({**continuous, "trials": 8}))[:5] == first


@pytest.mark.parametrize(
    "value,shown",
    [
        (0.001, "0.001"),
        (2.5e-4, "0.00025"),
        (0.00012345678, "0.000123"),
        (0.052345, "0.0523"),
        (1234.5678, "1235"),
        (1e7, "1e+07"),
        (0.1, "0.1"),
        (3, "3"),
        ([100, 0.00012345678], "[100, 0.000123]"),
        ("relu", "relu"),
    ],
)
def test_values_are_shown_with_sensible_significant_digits(value, shown):
    from nnctl.sweep.space import show

    assert show(value) == shown


def test_sweep_keys_without_effect_are_refused(tmp_path):
    from nnctl.config import load_config

    path = tmp_path / "e.yaml"
    path.write_text(
        "model: {type: knn, k: 3}\n"
        "sweep:\n"
        "  method: random\n"
        "  trials: 2\n"
        "  order: shuffled\n"
        "  scheduler: {type: asha, min_epochs: 2}\n"
        "  params: {model.k: [1, 3]}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert any(
        "sweep.order: has no effect" in line and "sweep.method is grid" in line for line in lines
    )
    assert any(
        "sweep.scheduler.min_epochs: has no effect" in line and "kNN has none" in line
        for line in lines
    )
