"""sweep.method: tpe: Optuna proposes the points (ask) and is told the results (tell); nnctl
owns the trials, their folders and resume."""

import builtins
import csv
import functools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import validate
from nnctl.status import Status
from nnctl.sweep import run_sweep
from nnctl.sweep.tpe import distributions, point

optuna = pytest.importorskip("optuna")

TRIALS = 5
BASE = {
    "name": "toy",
    "seed": 3,
    "data": {
        "dataset": "blobs",
        "classes": 3,
        "dim": 6,
        "noise": 2.5,
        "split": {"train": 150, "val": 60, "test": 30},
    },
    "model": {"hidden_dims": [8]},
    "train": {"optimizer": "adam", "batch_size": 30, "epochs": 2},
    "sweep": {
        "method": "tpe",
        "trials": TRIALS,
        "params": {
            "train.learning_rate": {"log_uniform": [1e-4, 1e-1]},
            "model.hidden_dims": [[4], [8, 4]],
        },
    },
}


@pytest.fixture(autouse=True)
def tpe_after_two_random_points(monkeypatch):
    """Optuna's TPE draws its first 10 points at random; here only the first 2, so trials 3
    to 5 come from its model."""
    sampler = functools.partial(optuna.samplers.TPESampler, n_startup_trials=2)
    monkeypatch.setattr(optuna.samplers, "TPESampler", sampler)


def test_each_distribution_is_the_optuna_one_of_the_same_range():
    data = json.loads(json.dumps(BASE))
    data["sweep"]["params"] = {
        "train.learning_rate": {"log_uniform": [1e-4, 1e-1]},
        "model.reg": {"uniform": [0.0, 0.2]},
        "train.batch_size": {"int_uniform": [10, 40]},
        "model.hidden_dims": [[4], [8, 4]],
        "train.optimizer": ["sgd", "adam"],
    }
    config = validate(data)
    dists = optuna.distributions
    assert distributions(config) == {
        "train.learning_rate": dists.FloatDistribution(1e-4, 1e-1, log=True),
        "model.reg": dists.FloatDistribution(0.0, 0.2),
        "train.batch_size": dists.IntDistribution(10, 40),
        "model.hidden_dims": dists.CategoricalDistribution(["[4]", "[8, 4]"]),
        "train.optimizer": dists.CategoricalDistribution(["sgd", "adam"]),
    }
    proposed = {"train.learning_rate": 0.01, "model.reg": 0.1, "train.batch_size": 12,
                "model.hidden_dims": "[8, 4]", "train.optimizer": "adam"}  # fmt: skip
    assert point(config, proposed) == {**proposed, "model.hidden_dims": [8, 4]}


def results(folder):
    with open(Path(folder) / "results.csv") as f:
        return list(csv.DictReader(f))


def study(folder):
    return optuna.load_study(study_name="toy", storage=f"sqlite:///{folder}/optuna.db")


def sweep(tmp_path, workers=1, **kwargs):
    return run_sweep(validate(BASE), tmp_path / "runs", workers=workers, quiet=True, **kwargs)


def test_tpe_proposes_points_in_range_and_the_study_holds_every_result(tmp_path):
    result = sweep(tmp_path)
    rows = results(result.folder)
    assert len(rows) == TRIALS
    assert {r["status"] for r in rows} == {"completed"}
    for row in rows:
        assert 1e-4 <= float(row["train.learning_rate"]) <= 1e-1
        assert json.loads(row["model.hidden_dims"]) in ([4], [8, 4])
    # The study in the sweep folder has every trial, told the value results.csv shows.
    frozen = study(result.folder).get_trials()
    assert len(frozen) == TRIALS
    assert [t.state for t in frozen] == [optuna.trial.TrialState.COMPLETE] * TRIALS
    assert [t.value for t in frozen] == [float(r["best_val_acc"]) for r in rows]
    assert [t.params["train.learning_rate"] for t in frozen] == [
        float(r["train.learning_rate"]) for r in rows
    ]
    assert [json.loads(t.params["model.hidden_dims"]) for t in frozen] == [
        json.loads(r["model.hidden_dims"]) for r in rows
    ]
    # Points differ (TPE's random start-up draws), and the sweep listing names all of them.
    assert len({r["train.learning_rate"] for r in rows}) == TRIALS


def test_the_same_seed_proposes_the_same_points_on_one_worker(tmp_path):
    first = results(sweep(tmp_path / "a").folder)
    second = results(sweep(tmp_path / "b").folder)
    keys = ["train.learning_rate", "model.hidden_dims"]
    assert [[r[k] for k in keys] for r in first] == [[r[k] for k in keys] for r in second]


def test_without_optuna_the_sweep_is_refused_in_one_line_with_exit_2(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_optuna(name, *args, **kwargs):
        if name == "optuna" or name.startswith("optuna."):
            raise ImportError("No module named 'optuna'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_optuna)
    config = tmp_path / "tpe.json"
    config.write_text(json.dumps(BASE))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["sweep", str(config), "--runs-dir", str(runs)])
    assert result.exit_code == 2, result.output
    assert "pip install 'nnctl[optuna]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not runs.exists() or not any(runs.iterdir())


def test_an_interrupted_tpe_sweep_resumes_without_losing_or_repeating_trials(tmp_path, monkeypatch):
    """Stop the sweep (as a SIGKILL would) right after trial 3 ended and before the study was
    told; the resume tells it, runs the rest, and proposes only what is missing. With
    Optuna's 10 random start-up points, a restarted sampler that drew its first points again
    would repeat trial 1's point."""
    import nnctl.sweep.tpe as tpe_module

    monkeypatch.setattr(optuna.samplers, "TPESampler", optuna.samplers.TPESampler.func)

    real_tell = tpe_module.TpePlan._tell

    class Killed(BaseException):
        pass

    def tell_until_trial_3(self, trial):
        if trial.number == 3:
            raise Killed
        real_tell(self, trial)

    monkeypatch.setattr(tpe_module.TpePlan, "_tell", tell_until_trial_3)
    with pytest.raises(Killed):
        sweep(tmp_path)
    [folder] = [p for p in (tmp_path / "runs").iterdir() if not p.is_symlink()]
    told = [t for t in study(folder).get_trials() if t.state.is_finished()]
    assert len(told) == 2
    third = (folder / "trials" / "003" / "summary.json").read_text()
    assert json.loads(third)["status"] == Status.COMPLETED.value
    monkeypatch.setattr(tpe_module.TpePlan, "_tell", real_tell)

    result = sweep(tmp_path, resume=folder)
    rows = results(folder)
    frozen = study(folder).get_trials()
    assert len(rows) == len(frozen) == TRIALS
    assert [t.state for t in frozen] == [optuna.trial.TrialState.COMPLETE] * TRIALS
    assert [t.value for t in frozen] == [float(r["best_val_acc"]) for r in rows]
    # Trial 3 ran once: its folder is the one from before the interruption.
    assert (folder / rows[2]["folder"] / "summary.json").read_text() == third
    assert len({r["train.learning_rate"] for r in rows}) == TRIALS
    assert result.status is Status.COMPLETED


@pytest.mark.slow
def test_a_sigkilled_tpe_sweep_resumes_from_its_study(tmp_path):
    """A real SIGKILL of the sweep process right after its first trial ended (the next point
    already proposed): the resume runs that proposal, and no trial is lost or run twice."""
    config = tmp_path / "tpe.json"
    config.write_text(json.dumps(BASE))
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "nnctl", "sweep", str(config), "--runs-dir", str(runs)]
    env = {**os.environ, "NNCTL_FAULT_AT": "trial:SIGKILL"}
    killed = subprocess.run(
        [*command, "--workers", "1", "--quiet", "--no-report"], env=env, capture_output=True
    )
    assert killed.returncode == -signal.SIGKILL
    [folder] = [p for p in runs.iterdir() if not p.is_symlink()]
    assert [t.state.name for t in study(folder).get_trials()] == ["COMPLETE", "RUNNING"]

    sweep(tmp_path, resume=folder)
    rows = results(folder)
    frozen = study(folder).get_trials()
    assert [t.state.name for t in frozen] == ["COMPLETE"] * TRIALS
    assert [t.value for t in frozen] == [float(r["best_val_acc"]) for r in rows]
    assert len({r["train.learning_rate"] for r in rows}) == TRIALS


def test_a_range_reaching_invalid_values_is_refused_before_the_folder_exists(tmp_path):
    data = json.loads(json.dumps(BASE))
    data["sweep"]["params"]["model.dropout"] = {"uniform": [0.0, 1.5]}
    config = tmp_path / "tpe.json"
    config.write_text(json.dumps(data))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["sweep", str(config), "--runs-dir", str(runs)])
    assert result.exit_code == 2, result.output
    assert "sweep.params.model.dropout: the value 1.5" in result.output
    assert not runs.exists() or not any(runs.iterdir())


def test_a_dry_run_says_how_many_points_tpe_will_propose(tmp_path):
    config = tmp_path / "tpe.json"
    config.write_text(json.dumps(BASE))
    result = CliRunner().invoke(main, ["sweep", str(config), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output == f"up to {TRIALS} trials, proposed by Optuna's TPE as it runs\n"


def categorical(trials):
    """A space of 4 points only (two choices of two keys): TPE proposes points again."""
    data = json.loads(json.dumps(BASE))
    data["sweep"]["trials"] = trials
    data["sweep"]["params"] = {
        "model.hidden_dims": [[4], [8, 4]],
        "train.optimizer": ["sgd", "adam"],
    }
    return validate(data)


@pytest.mark.parametrize("workers", [1, 2])  # 2: a copy of a trial still running waits for it
def test_a_point_proposed_again_is_told_its_first_result_and_not_trained_again(tmp_path, workers):
    from nnctl.runs import SweepFolder
    from nnctl.sweep.tpe import proposed

    result = run_sweep(categorical(4), tmp_path / "runs", workers=workers, quiet=True)
    rows = results(result.folder)
    points = [(r["model.hidden_dims"], r["train.optimizer"]) for r in rows]
    assert len(points) == 4 and len(set(points)) == 4  # every point trained once
    frozen = study(result.folder).get_trials()
    assert len(frozen) > 4  # Optuna did propose points again
    assert {t.state for t in frozen} == {optuna.trial.TrialState.COMPLETE}
    value = {p: float(r["best_val_acc"]) for p, r in zip(points, rows, strict=True)}
    for t in frozen:  # each copy carries its original's result
        p = (t.params["model.hidden_dims"], t.params["train.optimizer"])
        assert t.value == value[(json.dumps(json.loads(p[0])), p[1])]
    # a resumed sweep rebuilds the same 4 trials from the study, copies set aside
    rebuilt = proposed(categorical(4), SweepFolder(result.folder))
    assert [t.id for t in rebuilt] == [r["id"] for r in rows]


def test_asking_for_more_points_than_the_space_has_stops_after_the_last_new_one(tmp_path, caplog):
    result = run_sweep(categorical(6), tmp_path / "runs", workers=1, quiet=True)
    assert len(results(result.folder)) == 4
    assert result.status is Status.COMPLETED
    assert "points already tried; no more" in caplog.text
