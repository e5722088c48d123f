"""Whole runs into run folders, on synthetic data: files, evaluation, failure, resume."""

import csv
import json
import os
import signal

import numpy as np
import pytest
import yaml

from nnctl.config import validate
from nnctl.errors import DatasetError, ExperimentFailed, RunError
from nnctl.experiment import evaluate_run, load_run, run_experiment
from nnctl.training.solver import Callback, Solver


def blobs_config(**overrides):
    config = {
        "name": "blobs",
        "seed": 3,
        "data": {
            "dataset": "blobs",
            "classes": 3,
            "dim": 5,
            "noise": 1.5,
            "split": {"train": 240, "val": 60, "test": 90},
            "preprocess": ["standardize"],
        },
        "model": {
            "hidden_dims": [20, 10],
            "normalization": "batchnorm",
            "dropout": 0.1,
            "init": "he",
        },
        "train": {"optimizer": "adam", "learning_rate": 1e-2, "batch_size": 32, "epochs": 4},
    }
    for key, value in overrides.items():
        section, _, field = key.partition(".")
        config[section][field] = value
    return validate(config)


def test_a_run_writes_every_file(tmp_path):
    result = run_experiment(blobs_config(), tmp_path, quiet=True)
    run = result.run_dir
    assert result.status == "completed" and result.epochs == 4
    assert (tmp_path / "latest").resolve() == run.resolve()
    saved = validate(yaml.safe_load((run / "config.yaml").read_text()))
    assert saved == blobs_config()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in lines if "loss" in r and "val_acc" not in r]
    epochs = [r for r in lines if "val_acc" in r]
    assert len(steps) == 4 * 8 and [r["epoch"] for r in epochs] == [1, 2, 3, 4]
    with open(run / "history.csv") as f:
        history = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in history] == [1, 2, 3, 4]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["seed"] == 3
    assert summary["best_val_acc"] == result.best_val_acc > 0.5
    assert {"nnctl", "numpy", "python"} <= set(summary)
    with np.load(run / "model.npz", allow_pickle=False) as f:
        assert "model/W1" in f.files and "preprocess/0/standardize/std" in f.files
    with np.load(run / "checkpoint.npz", allow_pickle=False) as f:
        assert "optim/W1/m" in f.files
    for plot in ("loss.png", "accuracy.png", "weights.png"):
        assert (run / "plots" / plot).stat().st_size > 1000
    assert "epoch 4/4" in (run / "log.txt").read_text()


def test_evaluation_matches_an_independent_count(tmp_path):
    run = run_experiment(blobs_config(), tmp_path, quiet=True).run_dir
    result = evaluate_run(run)
    saved = load_run(run)
    config, model, states = saved.config, saved.model, saved.states
    # Rebuild the test set by hand: regenerate the data and standardise with the saved state.
    from nnctl.datasets import load_dataset
    from nnctl.experiment import generators

    raw = load_dataset({**config.data.model_dump(), "preprocess": []}, generators(config.seed)[0])
    X_test = (raw.X_test - states[0]["mean"]) / states[0]["std"]
    expected = np.mean(np.argmax(model.loss(X_test), axis=1) == raw.y_test)
    assert result.accuracy == pytest.approx(expected)
    assert result.confusion.sum() == 90 and np.trace(result.confusion) == round(expected * 90)
    report = json.loads((run / "eval.json").read_text())
    assert report["test"]["accuracy"] == result.accuracy
    assert json.loads((run / "summary.json").read_text())["test_acc"] == result.accuracy
    assert (run / "plots" / "confusion.png").is_file()


def test_knn_run_cross_validates_and_evaluates(tmp_path):
    config = blobs_config()
    config = validate(
        {
            **config.model_dump(),
            "model": {"type": "knn", "k": [1, 3, 7], "folds": 3},
            "data": {**config.data.model_dump(), "split": {"train": 240, "val": 0, "test": 90}},
        }
    )
    result = run_experiment(config, tmp_path, quiet=True)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["k"] in (1, 3, 7) and set(summary["cross_validation"]) == {"1", "3", "7"}
    assert (result.run_dir / "plots" / "knn_cv.png").is_file()
    assert evaluate_run(result.run_dir).accuracy > 0.6


def test_a_diverging_run_says_so(tmp_path):
    config = blobs_config(
        **{"train.learning_rate": 1e6, "train.optimizer": "sgd", "model.normalization": None}
    )
    result = run_experiment(config, tmp_path, quiet=True)
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert result.status == summary["status"] == "diverged"
    assert summary["diverged_at"] >= 1


def test_a_failing_run_keeps_its_folder_with_the_traceback(tmp_path, monkeypatch):
    def boom(self):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(Solver, "train", boom)
    with pytest.raises(ExperimentFailed, match="out of cheese"):
        run_experiment(blobs_config(), tmp_path, quiet=True)
    [run] = [p for p in tmp_path.iterdir() if p.name != "latest"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and "out of cheese" in summary["error"]
    log = (run / "log.txt").read_text()
    assert "Traceback" in log and "RuntimeError: out of cheese" in log


def test_no_folder_is_made_when_the_data_does_not_load(tmp_path):
    config = validate({"data": {"dataset": "cifar10", "root": str(tmp_path / "empty")}})
    with pytest.raises(DatasetError):
        run_experiment(config, tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists()


class SigintAt(Callback):
    def __init__(self, iteration):
        self.iteration = iteration

    def on_step(self, solver, loss):
        if solver.iteration == self.iteration:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends


def test_ctrl_c_leaves_a_checkpoint_and_resume_finishes_identically(tmp_path, monkeypatch):
    straight = run_experiment(blobs_config(), tmp_path / "a", quiet=True)

    original_init = Solver.__init__

    def with_sigint(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.callbacks.append(SigintAt(11))  # in the middle of epoch 2

    monkeypatch.setattr(Solver, "__init__", with_sigint)
    before = signal.getsignal(signal.SIGINT)
    stopped = run_experiment(blobs_config(), tmp_path / "b", quiet=True)
    monkeypatch.setattr(Solver, "__init__", original_init)
    assert stopped.status == "interrupted"
    assert json.loads((stopped.run_dir / "summary.json").read_text())["status"] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back

    resumed = run_experiment(blobs_config(), tmp_path / "b", quiet=True, resume=stopped.run_dir)
    assert resumed.status == "completed" and resumed.run_dir == stopped.run_dir
    assert resumed.best_val_acc == straight.best_val_acc
    with np.load(straight.run_dir / "model.npz") as a, np.load(resumed.run_dir / "model.npz") as b:
        for key in a.files:
            if key != "info":
                np.testing.assert_array_equal(a[key], b[key])
    losses = [
        r["loss"]
        for r in map(json.loads, (resumed.run_dir / "metrics.jsonl").read_text().splitlines())
        if "val_acc" not in r
    ]
    straight_losses = [
        r["loss"]
        for r in map(json.loads, (straight.run_dir / "metrics.jsonl").read_text().splitlines())
        if "val_acc" not in r
    ]
    assert losses == straight_losses

    with pytest.raises(RunError, match="already finished"):
        run_experiment(blobs_config(), tmp_path / "b", quiet=True, resume=stopped.run_dir)


def test_resume_refuses_a_changed_config(tmp_path, monkeypatch):
    original_init = Solver.__init__

    def with_sigint(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.callbacks.append(SigintAt(3))

    monkeypatch.setattr(Solver, "__init__", with_sigint)
    stopped = run_experiment(blobs_config(), tmp_path, quiet=True)
    monkeypatch.setattr(Solver, "__init__", original_init)
    with pytest.raises(RunError, match="differs .*train.learning_rate"):
        run_experiment(
            blobs_config(**{"train.learning_rate": 0.5}),
            tmp_path,
            quiet=True,
            resume=stopped.run_dir,
        )
