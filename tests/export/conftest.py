"""A small trained run (MNIST images, evaluated) and a two-trial sweep, made once for the
export tests, which only read them."""

import pytest

from nnctl.config import validate
from nnctl.experiment import evaluate_run, run_experiment
from nnctl.sweep import run_sweep

RUN = {
    "name": "tiny",
    "seed": 4,
    "data": {
        "dataset": "mnist-mini",
        "split": {"train": 200, "val": 50, "test": 50},
        "preprocess": ["subtract_mean"],
    },
    "model": {"hidden_dims": [16], "reg": 1e-3},
    "train": {"optimizer": "adam", "learning_rate": 2e-3, "batch_size": 50, "epochs": 2},
}
SWEEP = {
    "name": "toy",
    "seed": 1,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 90, "val": 30}},
    "model": {"hidden_dims": [8]},
    "train": {"optimizer": "adam", "batch_size": 30, "epochs": 2},
    "sweep": {"params": {"train.learning_rate": [1e-3, 1e-2]}},
}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = run_experiment(validate(RUN), runs, quiet=True)
    evaluate_run(result.run_dir)  # test_acc in the summary
    return result.run_dir


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory):
    runs = tmp_path_factory.mktemp("sweeps")
    return run_sweep(validate(SWEEP), runs, workers=1, quiet=True).folder
