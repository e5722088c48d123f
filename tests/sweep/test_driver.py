"""Sweeps end to end: parallel equals sequential, failures recorded, SIGKILL and resume, Dask."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nnctl.config import load_config, validate
from nnctl.errors import ExperimentFailed, RunError
from nnctl.sweep import run_sweep

BASE = {
    "name": "toy",
    "seed": 2,
    "data": {
        "dataset": "blobs",
        "classes": 3,
        "dim": 6,
        "noise": 2.5,
        "split": {"train": 300, "val": 90, "test": 30},
    },
    "model": {"hidden_dims": [16], "dropout": 0.1},
    "train": {"optimizer": "adam", "batch_size": 30, "epochs": 3},
    "sweep": {"params": {"train.learning_rate": [1e-3, 1e-2], "model.reg": [0.0, 0.1]}},
}


def make_config(**sweep_params):
    data = json.loads(json.dumps(BASE))
    if sweep_params:
        data["sweep"]["params"] = sweep_params
    return validate(data)


def results(folder):
    with open(Path(folder) / "results.csv") as f:
        return list(csv.DictReader(f))


def numbers(rows):
    return [(r["trial"], r["status"], r["best_val_acc"], r["train_acc"], r["epochs"]) for r in rows]


def test_parallel_equals_sequential_and_the_folder_is_complete(tmp_path, monkeypatch):
    import nnctl.sweep.driver as sweep_module

    loads = []
    real_load = sweep_module.load_dataset

    def counting_load(*args, **kwargs):
        loads.append(1)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "load_dataset", counting_load)
    sequential = run_sweep(make_config(), tmp_path / "a", workers=1, quiet=True)
    parallel = run_sweep(make_config(), tmp_path / "b", workers=2, quiet=True)
    assert len(loads) == 2  # once per sweep, shared by its four trials
    assert numbers(results(sequential.folder)) == numbers(results(parallel.folder))
    folder = parallel.folder
    assert folder.name.endswith("_toy-sweep")
    listing = yaml.safe_load((folder / "sweep.yaml").read_text())
    assert [t["number"] for t in listing["trials"]] == [1, 2, 3, 4]
    for n in range(1, 5):
        assert (
            json.loads((folder / "trials" / f"{n:03d}" / "summary.json").read_text())["status"]
            == "completed"
        )
    best = max(results(folder), key=lambda r: float(r["best_val_acc"]))
    assert (folder / "best").resolve() == (folder / best["folder"]).resolve()
    assert (folder / "plots" / "heatmap.png").is_file() and (
        folder / "plots" / "top_trials.png"
    ).is_file()
    assert parallel.best["metric"] == pytest.approx(float(best["best_val_acc"]))
    # `nnctl eval SWEEP_DIR` scores the best trial.
    from nnctl.experiment import evaluate_run

    evaluation = evaluate_run(folder)
    assert evaluation.run_dir == (folder / best["folder"]).resolve()
    assert (folder / best["folder"] / "eval.json").is_file()


def fail_when(monkeypatch, predicate):
    """Trials whose config satisfies predicate fail after training (inline workers only)."""
    from nnctl.experiment.runners import NetJob

    real_fields = NetJob.summary_fields

    def fields(self, result):
        if predicate(self.config):
            raise RuntimeError("out of cheese")
        return real_fields(self, result)

    monkeypatch.setattr(NetJob, "summary_fields", fields)


def test_a_failing_and_a_diverging_trial_are_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    config = make_config(**{"train.learning_rate": [1e-3, 1e7], "model.reg": [0.0, 0.5]})
    fail_when(monkeypatch, lambda c: c.model.reg == 0.5)
    result = run_sweep(config, tmp_path, workers=1, quiet=True)
    rows = {(r["train.learning_rate"], r["model.reg"]): r["status"] for r in results(result.folder)}
    assert rows == {
        ("0.001", "0.0"): "completed",
        ("10000000.0", "0.0"): "diverged",
        ("0.001", "0.5"): "failed",
        ("10000000.0", "0.5"): "failed",
    }
    failed = next(r for r in results(result.folder) if r["status"] == "failed")
    log = (result.folder / failed["folder"] / "log.txt").read_text()
    assert "Traceback" in log and "RuntimeError: out of cheese" in log
    assert result.best["params"]["train.learning_rate"] == 1e-3
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["best_trial"] == 1
    assert summary["counts"] == {"completed": 1, "diverged": 1, "failed": 2}


def test_a_trial_refused_before_it_started_is_recorded_failed(tmp_path, monkeypatch):
    from nnctl.errors import ModelError
    from nnctl.experiment.runners import NetJob

    real_init = NetJob.__init__

    def refuse(self, config, *args, **kwargs):
        if config.model.reg == 0.1:
            raise ModelError("no such model")
        real_init(self, config, *args, **kwargs)

    monkeypatch.setattr(NetJob, "__init__", refuse)
    result = run_sweep(make_config(), tmp_path, workers=1, quiet=True)
    statuses = {r["model.reg"]: r["status"] for r in results(result.folder)}
    assert statuses == {"0.0": "completed", "0.1": "failed"}
    refused = next(r for r in results(result.folder) if r["status"] == "failed")
    assert "no such model" in (result.folder / refused["folder"] / "log.txt").read_text()


def test_fail_fast_stops_at_the_first_failure(tmp_path, monkeypatch):
    fail_when(monkeypatch, lambda c: c.train.learning_rate == 1e-3 and c.model.reg == 0.0)
    with pytest.raises(ExperimentFailed, match="trial 1 failed"):
        run_sweep(make_config(), tmp_path, workers=1, quiet=True, fail_fast=True)
    [folder] = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    assert [r["status"] for r in results(folder)] == ["failed", "", "", ""]
    assert json.loads((folder / "summary.json").read_text())["status"] == "failed"


def test_resume_refuses_a_changed_config(tmp_path):
    result = run_sweep(make_config(), tmp_path, workers=1, quiet=True)
    changed = validate({**json.loads(json.dumps(BASE)), "train": {**BASE["train"], "epochs": 4}})
    with pytest.raises(RunError, match="changed .*train.epochs"):
        run_sweep(changed, tmp_path, resume=result.folder, quiet=True)
    other_space = make_config(**{"train.learning_rate": [1e-3, 3e-3]})
    with pytest.raises(RunError, match="changed .*sweep.params"):
        run_sweep(other_space, tmp_path, resume=result.folder, quiet=True)


SLOW = """\
name: slow
seed: 4
data: {dataset: blobs, classes: 4, dim: 20, noise: 3.0, split: {train: 6000, val: 300, test: 10}}
model: {hidden_dims: [128, 128], normalization: batchnorm, dropout: 0.2}
train: {optimizer: adam, batch_size: 50, epochs: 6}
sweep:
  params:
    train.learning_rate: [3e-4, 1e-3, 3e-3, 1e-2]
"""


@pytest.mark.slow
def test_sigkill_in_the_middle_then_resume_equals_an_uninterrupted_sweep(tmp_path):
    config_path = tmp_path / "slow.yaml"
    config_path.write_text(SLOW)
    command = [
        sys.executable,
        "-m",
        "nnctl",
        "sweep",
        str(config_path),
        "--workers",
        "1",
        "--quiet",
    ]
    proc = subprocess.Popen(
        [*command, "--runs-dir", str(tmp_path / "killed")], start_new_session=True
    )
    deadline = time.time() + 120
    folder = None
    while time.time() < deadline:
        found = [p for p in (tmp_path / "killed").glob("*-sweep") if (p / "results.csv").is_file()]
        if found:
            folder = found[0]
            done = [r for r in results(folder) if r["status"] == "completed"]
            running = folder / "trials" / f"{len(done) + 1:03d}" / "checkpoint.npz"
            if len(done) >= 2 and running.is_file():  # mid-trial, past its first epoch
                break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert folder is not None
    finished = {
        r["trial"]: (folder / r["folder"] / "summary.json").stat().st_mtime_ns
        for r in results(folder)
        if r["status"] == "completed"
    }
    assert len(finished) in (2, 3)

    resumed = subprocess.run(
        [*command, "--resume", str(folder)], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = results(folder)
    assert [r["trial"] for r in rows] == ["1", "2", "3", "4"]
    assert all(r["status"] == "completed" for r in rows)
    for trial, mtime in finished.items():  # finished trials were not run again
        assert (
            folder / "trials" / f"{int(trial):03d}" / "summary.json"
        ).stat().st_mtime_ns == mtime

    straight = run_sweep(load_config(config_path), tmp_path / "straight", workers=1, quiet=True)
    assert numbers(rows) == numbers(results(straight.folder))


@pytest.mark.slow
def test_dask_local_cluster_runs_the_grid(tmp_path):
    pytest.importorskip("dask.distributed")
    local = run_sweep(make_config(), tmp_path / "local", workers=1, quiet=True)
    dask = run_sweep(make_config(), tmp_path / "dask", workers=2, executor="dask", quiet=True)
    assert numbers(results(dask.folder)) == numbers(results(local.folder))
    # Dask workers share no memory with the sweep: they memory-map the one stored copy.
    assert len(list((dask.folder / "data").iterdir())) == 1
