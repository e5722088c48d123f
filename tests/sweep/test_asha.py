"""ASHA with real training: a paused and continued run gives the numbers of a run trained
straight through, a sweep on a process pool ends every trial completed or stopped with the
numbers of a plain run, and a sweep SIGKILLed and resumed makes the decisions an
uninterrupted one makes."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nnctl.config import TrainConfig, load_config, validate
from nnctl.experiment import run_experiment
from nnctl.sweep import run_sweep

NET = {
    "name": "asha",
    "seed": 3,
    "data": {
        "dataset": "blobs",
        "classes": 4,
        "dim": 8,
        "noise": 3.0,
        "split": {"train": 400, "val": 120, "test": 20},
    },
    "model": {"hidden_dims": [24], "normalization": "batchnorm", "dropout": 0.2},
    "train": {"optimizer": "adam", "lr_decay": 0.9, "batch_size": 32, "epochs": 6},
}


def history(run_dir):
    """history.csv without the timings."""
    with open(run_dir / "history.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def arrays(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize(
    "train",
    [
        {"lr_decay": 0.9},
        pytest.param(
            {"lr_decay": 1.0, "schedule": {"type": "cosine", "warmup_epochs": 1.5}},
            marks=pytest.mark.skipif(
                "schedule" not in TrainConfig.model_fields, reason="no learning-rate schedules"
            ),
        ),
    ],
    ids=["lr_decay", "cosine schedule"],
)
def test_a_run_paused_and_continued_equals_one_trained_straight_through(tmp_path, train):
    config = validate({**NET, "train": {**NET["train"], **train}})
    paused = run_experiment(config, run_dir=tmp_path / "a", quiet=True, pause_at=2)
    assert paused.status == "paused" and paused.epochs == 2
    again = run_experiment(
        config, run_dir=tmp_path / "a", quiet=True, resume=tmp_path / "a", pause_at=5
    )
    assert again.status == "paused" and again.epochs == 5
    done = run_experiment(config, run_dir=tmp_path / "a", quiet=True, resume=tmp_path / "a")
    straight = run_experiment(config, run_dir=tmp_path / "b", quiet=True)
    assert done.status == straight.status == "completed"
    assert done.best_val_acc == straight.best_val_acc
    assert history(tmp_path / "a") == history(tmp_path / "b")
    for name in ("model.npz", "checkpoint.npz"):
        a, b = arrays(tmp_path / "a" / name), arrays(tmp_path / "b" / name)
        assert a.keys() == b.keys()
        for key in a:
            if key not in ("info", "meta", "epoch_seconds"):
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}: {key}")
    losses = [
        [(r["step"], r["loss"]) for r in map(json.loads, (tmp_path / p / "metrics.jsonl").open())]
        for p in ("a", "b")
    ]
    assert losses[0] == losses[1]


SWEPT = {
    **NET,
    "train": {**NET["train"], "epochs": 9},
    "sweep": {
        "order": "shuffled",
        "scheduler": {"type": "asha", "min_epochs": 1, "reduction_factor": 3},
        "params": {"train.learning_rate": [1e-4, 3e-4, 1e-3, 3e-3], "model.reg": [0.0, 0.3]},
    },
}


def trial_summaries(folder):
    return {
        int(p.name): json.loads((p / "summary.json").read_text())
        for p in sorted((folder / "trials").iterdir())
    }


def test_an_asha_sweep_on_a_process_pool(tmp_path):
    config = validate(SWEPT)
    result = run_sweep(config, tmp_path, workers=2, quiet=True)
    summaries = trial_summaries(result.folder)
    assert len(summaries) == 8
    assert {s["status"] for s in summaries.values()} <= {"completed", "stopped"}
    for summary in summaries.values():
        records = summary["rungs"]
        assert [r["epochs"] for r in records] == [1, 3][: len(records)]
        assert all(r["decision"] == "promoted" for r in records[:-1])
        last = records[-1]
        if summary["status"] == "stopped":
            assert last["decision"] == "stopped" and last["rank"] > -(-last["of"] // 3)
            assert summary["stop_reason"] == (
                f"rung {last['rung']} ({last['epochs']} epoch{'s' * (last['epochs'] > 1)}): "
                f"rank {last['rank']} of {last['of']}"
            )
            assert summary["epochs"] == last["epochs"]
        else:
            assert last["decision"] == "promoted" and summary["epochs"] == 9
    effort = result.effort["epochs"]
    assert effort["full"] == 8 * 9
    assert effort["trained"] == sum(s["epochs"] for s in summaries.values()) < 8 * 9
    # The best trial, continued twice in the sweep, has the numbers of a plain run.
    best = result.folder / "best"
    plain = run_experiment(
        load_config_of(best), run_dir=tmp_path / "plain", quiet=True, update_link=False
    )
    assert history(best) == history(tmp_path / "plain")
    assert plain.best_val_acc == result.best["metric"]


def load_config_of(run_dir):
    from nnctl.runs import RunFolder

    return RunFolder(run_dir).read_config()


@pytest.mark.slow
def test_sigkill_then_resume_makes_the_decisions_of_an_uninterrupted_sweep(tmp_path):
    import yaml

    path = tmp_path / "asha.yaml"
    slow = json.loads(json.dumps(SWEPT))
    slow["data"]["split"]["train"] = 3000
    path.write_text(yaml.safe_dump(slow))
    command = [sys.executable, "-m", "nnctl", "sweep", str(path), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(
        [*command, "--runs-dir", str(tmp_path / "killed"), "--no-report"],
        start_new_session=True,
    )
    deadline, folder = time.time() + 120, None
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "killed").glob("*-sweep"))
        if found and (found[0] / "results.csv").is_file():
            folder = found[0]
            with open(folder / "results.csv") as f:
                rows = list(csv.DictReader(f))
            ended = [r for r in rows if r["status"] in ("completed", "stopped")]
            running = folder / "trials" / f"{len(ended) + 1:03d}" / "checkpoint.npz"
            if len(ended) >= 3 and running.is_file():  # in a trial that has trained a little
                break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert folder is not None
    before = trial_summaries(folder)
    assert 3 <= sum(s["status"] in ("completed", "stopped") for s in before.values()) < 8
    resumed = subprocess.run(
        [*command, "--resume", str(folder), "--no-report"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    straight = run_sweep(load_config(path), tmp_path / "straight", workers=1, quiet=True)
    keys = ("status", "epochs", "best_val_acc", "stop_reason")
    got, expected = trial_summaries(folder), trial_summaries(straight.folder)
    assert {n: {k: s.get(k) for k in keys} for n, s in got.items()} == {
        n: {k: s.get(k) for k in keys} for n, s in expected.items()
    }
    assert {n: s["rungs"] for n, s in got.items()} == {n: s["rungs"] for n, s in expected.items()}
