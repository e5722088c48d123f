"""`nnctl compare`: only the config keys that differ, side by side; how each run did; their
curves overlaid; trials and sweeps (their best trial) compare like runs."""

import json

import pytest
from click.testing import CliRunner

from nnctl import viz
from nnctl.cli import main
from nnctl.config import validate
from nnctl.errors import RunError
from nnctl.experiment import run_experiment
from nnctl.report import compare_runs
from tests.report.conftest import TOY_SWEEP

BASE = {
    "name": "pair",
    "seed": 3,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 90, "val": 30}},
    "model": {"hidden_dims": [8]},
    "train": {"optimizer": "adam", "learning_rate": 1e-2, "batch_size": 30, "epochs": 2},
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two runs that differ in exactly two keys: the optimiser and the number of epochs."""
    runs = tmp_path_factory.mktemp("pair")
    first = run_experiment(validate(BASE), runs, quiet=True).run_dir
    other = json.loads(json.dumps(BASE))
    other["train"].update(optimizer="sgd", epochs=3)
    second = run_experiment(validate(other), runs, quiet=True).run_dir
    return first, second


def test_only_the_keys_that_differ_are_listed_side_by_side(pair):
    compared = compare_runs(pair)
    assert compared.differences == [("train.optimizer", ["adam", "sgd"]), ("train.epochs", [2, 3])]
    assert compared.keys > 30  # of every key of the config
    summaries = [json.loads((p / "summary.json").read_text()) for p in pair]
    results = dict(compared.results)
    assert results["best val acc"] == [s["best_val_acc"] for s in summaries]
    assert results["epochs"] == ["2/2", "3/3"]
    assert [str(s) for s in results["status"]] == ["completed", "completed"]
    assert "k" not in results  # no run has one: the row is left out


def test_the_command_prints_the_differences_and_results(pair):
    result = CliRunner().invoke(main, ["compare", *map(str, pair)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"A   {pair[0].name}" and lines[1] == f"B   {pair[1].name}"
    assert lines[3].startswith("config: 2 of ") and lines[3].endswith(" keys differ")
    assert lines[5].split() == ["train.optimizer", "adam", "sgd"]
    assert lines[6].split() == ["train.epochs", "2", "3"]
    status = next(line for line in lines if line.startswith("status"))
    assert status.split() == ["status", "completed", "completed"]


def test_plot_overlays_every_run(pair, tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(viz, "_save", lambda fig, path: drawn.append(fig) or path)
    out = tmp_path / "both.png"
    result = CliRunner().invoke(main, ["compare", *map(str, pair), "--plot", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.endswith(f"wrote {out}\n")
    accuracy, loss = drawn[0].axes
    labels = [line.get_label() for line in accuracy.get_lines() if "val" in line.get_label()]
    assert labels == [f"A: {pair[0].name} (val)", f"B: {pair[1].name} (val)"]
    assert [len(line.get_xdata()) for line in loss.get_lines()] == [2, 3]
    assert drawn[0].get_suptitle() == "Compared: pair (A), pair (B)"


def test_trials_and_sweeps_compare_like_runs(tmp_path):
    from nnctl.sweep import run_sweep

    config = json.loads(json.dumps(TOY_SWEEP))
    config["sweep"]["params"] = {"model.reg": [0.0, 0.5]}
    sweep = run_sweep(validate(config), tmp_path, workers=1).folder
    trials = sorted((sweep / "trials").iterdir())
    compared = compare_runs(trials)
    assert compared.labels == [f"{sweep.name}/trials/{t.name}" for t in trials]
    assert compared.differences == [("model.reg", [0.0, 0.5])]
    best = (sweep / "best").resolve()
    other = next(t for t in trials if t.resolve() != best)
    assert compare_runs([sweep, other]).paths == [best, other.resolve()]  # a sweep: its best
    with pytest.raises(RunError, match="are the same run"):
        compare_runs([sweep, best])


def test_mistakes_are_one_line_errors(pair, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["compare", str(pair[0])])
    assert result.exit_code == 2 and "at least two runs" in result.output
    result = runner.invoke(main, ["compare", str(pair[0]), str(tmp_path / "gone")])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1
