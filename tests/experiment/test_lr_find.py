"""The learning-rate range test: its rates, its suggestion worked out by hand, and its run
folder made through the run lifecycle (nothing written for bad input)."""

import csv
import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import validate
from nnctl.errors import ConfigError
from nnctl.experiment.lr_find import centred_average, lr_find, suggest, window


def blobs_config(**model):
    return validate(
        {
            "name": "blobs",
            "seed": 1,
            "data": {
                "dataset": "blobs",
                "classes": 3,
                "dim": 5,
                "noise": 3.0,  # overlapping classes: large weights cost a large loss
                "split": {"train": 240, "val": 60, "test": 30},
                "preprocess": ["standardize"],
            },
            "model": {"hidden_dims": [20], "init": "he", **model},
            "train": {"optimizer": "adam", "batch_size": 32},
        }
    )


def test_suggestion_by_hand():
    lrs = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1]
    smoothed = [5.0, 4.0, 2.0, 1.5, 1.4, 3.0, 9.0]
    found = suggest(lrs, smoothed)
    # Lowest at 1e-1, so 1e-2 is suggested. Slopes (central differences over equal log
    # steps): -1, -1.5, -1.25, -0.3, +0.75 up to the minimum: steepest at 1e-4.
    assert found["min_loss_lr"] == pytest.approx(1e-1)
    assert found["suggested_lr"] == pytest.approx(1e-2)
    assert found["steepest_lr"] == pytest.approx(1e-4)
    assert suggest(lrs[:2], smoothed[:2])["suggested_lr"] is None


def test_centred_average_by_hand():
    np.testing.assert_allclose(centred_average([1, 2, 3, 4, 6], 3), [1.5, 2, 3, 13 / 3, 5])
    assert window(300) == 13 and window(10) == 3 and window(100) == 5


def test_a_range_test_writes_a_run_folder(tmp_path):
    result = lr_find(blobs_config(), tmp_path, min_lr=1e-5, max_lr=10.0, steps=80)
    run = result.run_dir
    assert result.status == "completed" and run.name.endswith("_blobs-lr-find")
    with open(run / "lr_find.csv") as f:
        rows = list(csv.DictReader(f))
    lrs = [float(r["lr"]) for r in rows]
    expected = [1e-5 * (1e6) ** (t / 79) for t in range(len(rows))]
    np.testing.assert_allclose(lrs, expected, rtol=1e-9)  # exponential from min_lr
    assert len(rows) < 80  # Adam at rates near 10 blows the loss up: the test stopped early
    losses = [float(r["loss"]) for r in rows]
    assert max(losses[-5:]) > 4 * min(losses)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["kind"] == "lr-find"
    found = suggest(lrs, centred_average(losses, window(80)))
    assert summary["suggested_lr"] == pytest.approx(found["suggested_lr"])
    assert summary["suggested_lr"] == pytest.approx(summary["min_loss_lr"] / 10)
    assert 1e-5 < summary["suggested_lr"] < 1.0
    assert (run / "plots" / "lr_find.png").is_file() and (run / "config.yaml").is_file()
    steps = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [s["lr"] for s in steps] == pytest.approx(lrs)


@pytest.mark.parametrize(
    "config,options,message",
    [
        (blobs_config(), {"min_lr": 1.0, "max_lr": 0.1}, "0 < min_lr < max_lr"),
        (blobs_config(), {"steps": 2}, "at least 3 steps"),
        (
            validate({"data": {"dataset": "blobs"}, "model": {"type": "knn"}}),
            {},
            "model.type knn has no learning rate",
        ),
    ],
)
def test_bad_input_writes_nothing(tmp_path, config, options, message):
    with pytest.raises(ConfigError, match=message):
        lr_find(config, tmp_path / "runs", **options)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_command_prints_the_suggestion(tmp_path):
    (tmp_path / "exp.yaml").write_text(
        "name: cli\ndata: {dataset: blobs, split: {train: 200, val: 40}}\n"
        "model: {hidden_dims: [10]}\ntrain: {optimizer: sgd_momentum, batch_size: 20}\n"
    )
    result = CliRunner().invoke(
        main,
        [
            "lr-find",
            str(tmp_path / "exp.yaml"),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--steps",
            "50",
            "--max-lr",
            "100",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("suggested learning rate ")
    summary = json.loads(next((tmp_path / "runs").glob("*_cli-lr-find/summary.json")).read_text())
    assert math.isclose(float(line.split()[3]), summary["suggested_lr"], rel_tol=1e-2)
