"""`nnctl runs`: columns for what differs between the runs, dataset and model, live status
(running with its epoch, stale once its process is gone), filters, and the per-epoch history
of every run (and every trial) in long form."""

import csv
import io
import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import validate
from nnctl.errors import ConfigError
from nnctl.experiment import run_experiment
from nnctl.runs import FolderLock, RunFolder, list_runs, parse_where
from nnctl.sweep import run_sweep

BASE = {
    "name": "lst",
    "seed": 1,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 60, "val": 30}},
    "model": {"hidden_dims": [8]},
    "train": {"optimizer": "adam", "learning_rate": 1e-2, "batch_size": 30, "epochs": 2},
}


def config(**train):
    data = json.loads(json.dumps(BASE))
    data["train"].update(train)
    return data


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two runs (adam, sgd; reg 0) and a sweep over model.reg (its trials use adam)."""
    runs = tmp_path_factory.mktemp("listing")
    # names that sort in the order the folders are made: folders made in the same second
    # sort by name after their common timestamp ("lst_2" would sort after "lst-sweep")
    run_experiment(validate({**config(), "name": "lst-a"}), runs, quiet=True)
    run_experiment(validate({**config(optimizer="sgd"), "name": "lst-b"}), runs, quiet=True)
    sweep = {**config(), "name": "lst-c"}
    sweep["sweep"] = {"params": {"model.reg": [0.25, 0.5]}}
    run_sweep(validate(sweep), runs, workers=1)
    return runs


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


def test_the_columns_are_what_differs(runs):
    rows = list_runs(runs, sort="name")
    assert [r["kind"] for r in rows] == ["run", "run", "sweep"]
    assert {(r["dataset"], r["model"]) for r in rows} == {("blobs", "mlp")}
    result = invoke("runs", "--runs-dir", runs, "--sort", "name")
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    # optimizer differs between the runs; model.reg too (a sweep shows its best trial's)
    assert header.split()[:6] == ["run", "status", "data", "model", "reg", "optimizer"]
    assert "learning_rate" not in header  # the same everywhere: no column
    sweep = next(p for p in runs.iterdir() if p.name.endswith("-sweep"))
    best_reg = yaml.safe_load((sweep / "best" / "config.yaml").read_text())["model"]["reg"]
    assert [line.split()[4:6] for line in lines] == [
        ["0", "adam"], ["0", "sgd"], [f"{best_reg:g}", "adam"]
    ]  # fmt: skip
    assert lines[2].endswith(
        f"sweep of 2 trials, best: trial {int(sweep.joinpath('best').resolve().name)}"
    )


def test_csv_has_the_varying_keys_and_per_epoch_has_every_epoch(runs):
    result = invoke("runs", "--runs-dir", runs, "--csv", "--sort", "name")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["train.optimizer"] for r in rows] == ["adam", "sgd", "adam"]
    result = invoke("runs", "--runs-dir", runs, "--csv", "--per-epoch", "--sort", "name")
    records = list(csv.DictReader(io.StringIO(result.output)))
    expected = []
    folders = sorted(p for p in runs.iterdir() if p.is_dir() and not p.is_symlink())
    for folder in folders:
        histories = [folder] if (folder / "history.csv").exists() else []
        histories += sorted((folder / "trials").iterdir()) if (folder / "trials").exists() else []
        for path in histories:
            with open(path / "history.csv", newline="") as f:
                expected += [(path.name, row["epoch"], row["val_acc"]) for row in csv.DictReader(f)]
    got = [(r["run"].rpartition("/")[2], r["epoch"], r["val_acc"]) for r in records]
    assert [(name, int(float(e)), float(v)) for name, e, v in got] == [
        (name, int(float(e)), float(v)) for name, e, v in expected
    ]
    assert {r["model.reg"] for r in records if "/trials/" in r["run"]} == {"0.25", "0.5"}
    assert invoke("runs", "--runs-dir", runs, "--per-epoch").exit_code == 2  # needs --csv


def test_filters(runs):
    assert [r["config"]["train.optimizer"] for r in list_runs(runs, where=parse_where(
        ["train.optimizer=sgd"]))] == ["sgd"]  # fmt: skip
    assert len(list_runs(runs, where=parse_where(["train.learning_rate=1e-2"]))) == 3
    assert list_runs(runs, where=parse_where(["model.hidden_dims=[8, 8]"])) == []
    with pytest.raises(ConfigError, match="did you mean train.optimizer"):
        parse_where(["train.optimiser=sgd"])
    result = invoke("runs", "--runs-dir", runs, "--where", "train.optimizer=sgd")
    assert result.exit_code == 0 and len(result.output.splitlines()) == 2
    result = invoke("runs", "--runs-dir", runs, "--status", "running")
    assert result.output == f"no runs in {runs} match\n"
    result = invoke("runs", "--runs-dir", runs, "--where", "train.lr=1")
    assert result.exit_code == 2 and "did you mean train.learning_rate" in result.output


def test_running_runs_show_their_epoch_and_killed_ones_show_stale(runs, tmp_path):
    source = next(p for p in runs.iterdir() if (p / "history.csv").exists())
    live = tmp_path / "runs" / source.name
    shutil.copytree(source, live)
    RunFolder(live).update_summary(status="running", epochs=1, total_epochs=5)
    with FolderLock(live):
        [row] = list_runs(tmp_path / "runs")
        assert (row["status"], row["progress"]) == ("running", "epoch 1/5")
        result = invoke("runs", "--runs-dir", tmp_path / "runs")
        assert "running epoch 1/5" in result.output.splitlines()[1]
        assert len(list_runs(tmp_path / "runs", status=["stale"])) == 0
    [row] = list_runs(tmp_path / "runs")
    assert (row["status"], row["progress"]) == ("stale", None)
    assert "stale" in invoke("runs", "--runs-dir", tmp_path / "runs", "--status", "stale").output
