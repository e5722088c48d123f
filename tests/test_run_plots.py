"""The pictures a run draws carry its name and mark its best epoch (the saved model)."""

import json

from nnctl import viz
from nnctl.config import validate
from nnctl.experiment import run_experiment

CONFIG = {
    "name": "marked",
    "seed": 2,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 60, "val": 30}},
    "model": {"hidden_dims": [8]},
    "train": {"optimizer": "adam", "learning_rate": 3e-2, "batch_size": 20, "epochs": 4},
}


def test_a_runs_plots_have_its_name_and_its_best_epoch(tmp_path, monkeypatch):
    calls = {}
    for name in ("plot_loss", "plot_accuracy", "plot_weights"):
        monkeypatch.setattr(viz, name, lambda *a, _n=name, **k: calls.update({_n: (a, k)}))
    run = run_experiment(validate(CONFIG), tmp_path, quiet=True).run_dir
    summary = json.loads((run / "summary.json").read_text())
    best = summary["best_epoch"]
    args, kwargs = calls["plot_accuracy"]
    assert kwargs["title"] == "Accuracy (marked)" and kwargs["best_epoch"] == best
    args, kwargs = calls["plot_loss"]
    assert kwargs["title"] == "Training loss (marked)"
    assert kwargs["best_step"] == best * 3  # 60 examples in batches of 20: 3 per epoch
    args, kwargs = calls["plot_weights"]
    assert kwargs["name"] == "marked" and kwargs["layer"] == 1 and not kwargs["output"]
