"""Run and sweep folders made once per session by the real code paths, for the report tests.

Tests that change a folder (write a report, lock it, damage a file) work on a copy.
"""

import shutil
from types import SimpleNamespace

import pytest

from nnctl.config import validate
from nnctl.experiment import evaluate_run, run_experiment
from nnctl.sweep import run_sweep

MINI = {  # real digits, so the run has weight tiles and misclassified pictures
    "name": "mini",
    "seed": 0,
    "data": {
        "dataset": "mnist-mini",
        "split": {"train": 300, "val": 100, "test": 100},
        "preprocess": ["scale", "flatten"],
    },
    "model": {"hidden_dims": [16]},
    "train": {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 50, "epochs": 3},
}
KNN = {
    "name": "knn",
    "seed": 0,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 150, "val": 30}},
    "model": {"type": "knn", "k": [1, 3, 10, 30], "folds": 3},
}
TOY_SWEEP = {  # a 2 x 3 grid; learning rate 10 diverges; the best reg is at the edge (0)
    "name": "toy",
    "seed": 1,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 120, "val": 30}},
    "model": {"hidden_dims": [8]},
    "train": {"optimizer": "adam", "batch_size": 30, "epochs": 2},
    "sweep": {"params": {"train.learning_rate": [1e-2, 10.0], "model.reg": [0.0, 0.1, 1.0]}},
}


@pytest.fixture(scope="session")
def made(tmp_path_factory):
    """A trained and evaluated mnist-mini run, a kNN run and a finished sweep, in one runs
    folder; no reports written yet."""
    runs = tmp_path_factory.mktemp("made") / "runs"
    run = run_experiment(validate(MINI), runs, quiet=True).run_dir
    evaluate_run(run)
    knn = run_experiment(validate(KNN), runs, quiet=True).run_dir
    sweep = run_sweep(validate(TOY_SWEEP), runs, workers=2).folder
    return SimpleNamespace(runs=runs, run=run, knn=knn, sweep=sweep)


def copy_of(path, tmp_path):
    """A copy of a run or sweep folder under tmp_path (links kept as links)."""
    target = tmp_path / path.name
    shutil.copytree(path, target, symlinks=True)
    return target


@pytest.fixture
def run_copy(made, tmp_path):
    return copy_of(made.run, tmp_path)


@pytest.fixture
def sweep_copy(made, tmp_path):
    return copy_of(made.sweep, tmp_path)
