"""What a sweep reports: per point the mean and std over its repeats in points.csv, the
ranking and the best point by mean, the top-trials plot as mean curves with +-1 std bands,
and points without a result kept in sight (their own heat-map cells, the counts line).
Training is replaced by a table, so the references are computed here from that table."""

import csv

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from nnctl import viz
from nnctl.config import validate
from nnctl.experiment import RunResult
from nnctl.runs import RunFolder, Status
from nnctl.sweep import run_sweep

# Validation accuracy per epoch of each (learning rate, seed): point 1e-3 has the best single
# trial (0.9) but point 1e-2 the best mean.
CURVES = {
    (1e-3, 0): [0.5, 0.9],
    (1e-3, 1): [0.4, 0.5],
    (1e-3, 2): [0.3, 0.5],
    (1e-2, 0): [0.6, 0.7],
    (1e-2, 1): [0.6, 0.72],
    (1e-2, 2): [0.5, 0.74],
}
DIVERGING = {(1e-3, 0.0): [0.5, 0.6], (1e-3, 0.1): [0.4, 0.7], (1e-2, 0.0): [0.3, 0.2]}
CONFIG = {
    "name": "rep",
    "data": {"dataset": "blobs", "split": {"train": 60, "val": 30, "test": 0}},
    "train": {"epochs": 2},
    "sweep": {"repeats": 3, "params": {"train.learning_rate": [1e-3, 1e-2]}},
}


@pytest.fixture
def table_training(monkeypatch):
    """run_experiment replaced by CURVES, keyed by (learning rate, seed), or by (learning
    rate, reg) for DIVERGING; a trial with no curve diverges."""
    import nnctl.sweep.driver as driver

    def fake_run(config, *, run_dir, **_):
        folder = RunFolder(run_dir)
        key = (config.train.learning_rate, config.seed)
        curve = CURVES.get(key, DIVERGING.get((config.train.learning_rate, config.model.reg)))
        folder.plots.mkdir(parents=True)
        if curve is None:
            folder.update_summary(status="diverged", epochs=0)
            return RunResult(folder.path, Status.DIVERGED)
        folder.write_history(
            [
                {"epoch": e, "lr": 0, "train_acc": v / 2, "val_acc": v, "loss": 1, "seconds": 0}
                for e, v in enumerate(curve, start=1)
            ]
        )
        folder.update_summary(status="completed", epochs=2, best_val_acc=max(curve))
        return RunResult(folder.path, Status.COMPLETED, best_val_acc=max(curve), epochs=2)

    monkeypatch.setattr(driver, "run_experiment", fake_run)
    monkeypatch.setattr(driver, "load_dataset", lambda *a, **k: None)
    monkeypatch.setattr(driver, "load_splits", lambda locator: None)
    monkeypatch.setattr(driver, "_check_trials_against_data", lambda *a: None)


@pytest.fixture
def figures(monkeypatch):
    drawn = []

    def keep(fig, path):
        drawn.append(fig)
        viz._pyplot().close(fig)
        return path

    monkeypatch.setattr(viz, "_save", keep)
    return drawn


def test_points_are_ranked_by_their_mean_with_bands_in_the_top_trials_plot(
    tmp_path, table_training, figures
):
    result = run_sweep(validate(CONFIG), tmp_path, workers=1, quiet=True)
    finals = {lr: [max(CURVES[lr, seed]) for seed in range(3)] for lr in (1e-3, 1e-2)}
    with open(result.folder / "points.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["train.learning_rate"]) for r in rows] == [1e-2, 1e-3]  # by mean
    for row in rows:
        values = finals[float(row["train.learning_rate"])]
        assert float(row["val_acc_mean"]) == pytest.approx(np.mean(values))
        assert float(row["val_acc_std"]) == pytest.approx(np.std(values))
        assert row["n"] == "3" and row["statuses"] == "completed"
    assert rows[0]["trials"] == "4 5 6" and rows[0]["best_trial"] == "6"
    assert result.best["params"] == {"train.learning_rate": 1e-2}
    assert (result.folder / "best").resolve().name == "006"

    [top] = [fig for fig in figures if fig.axes[0].get_title().startswith("Top trials")]
    ax = top.axes[0]
    val_lines = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert [line.get_label() for line in val_lines] == [
        "learning_rate=0.01, 3 seeds (val)",
        "learning_rate=0.001, 3 seeds (val)",
    ]
    for line, band, lr in zip(val_lines, ax.collections, (1e-2, 1e-3), strict=True):
        curves = np.array([CURVES[lr, seed] for seed in range(3)])
        mean, std = curves.mean(axis=0), curves.std(axis=0)
        np.testing.assert_allclose(line.get_ydata(), mean)
        ys = band.get_paths()[0].vertices[:, 1]
        np.testing.assert_allclose(
            sorted(set(np.round(ys, 12))), sorted({*(mean - std), *(mean + std)})
        )


def test_a_point_without_a_result_keeps_its_cell_and_is_counted(tmp_path, table_training, figures):
    from click.testing import CliRunner

    from nnctl.cli import main

    path = tmp_path / "grid.yaml"
    path.write_text(
        "name: grid\n"
        "seed: 7\n"  # not a seed of CURVES: the DIVERGING table applies
        "data: {dataset: blobs, split: {train: 60, val: 30, test: 0}}\n"
        "train: {epochs: 2}\n"
    )
    result = CliRunner().invoke(
        main,
        ["sweep", str(path), "train.learning_rate=1e-3,1e-2", "model.reg=0.0,0.1", "--workers",
         "1", "--runs-dir", str(tmp_path / "runs"), "--no-report"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 trials: 3 completed, 1 diverged" in result.stdout.splitlines()
    assert "1 diverged of 4 trials (see their log.txt)" in result.stderr
    [heatmap] = [fig for fig in figures if "over the grid" in fig.axes[0].get_title()]
    ax = heatmap.axes[0]
    filled = [
        (p.get_x() + 0.5, p.get_y() + 0.5)
        for p in ax.patches
        if p.get_facecolor()[:3] == to_rgb(viz.NO_RESULT_FILL)
    ]
    assert filled == [(1.0, 1.0)]  # x: lr 1e-2 (second), y: reg 0.1 (second)
    notes = [t.get_text() for t in ax.texts if t.get_position() == (1, 1)]
    assert notes == ["diverged"]
