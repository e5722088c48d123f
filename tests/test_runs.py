"""Run folders: unique creation, atomic writes, summaries, metrics, saved models, listing."""

import json
import os
import threading
from datetime import datetime

import numpy as np
import pytest

from nnctl import atomic
from nnctl.errors import RunError
from nnctl.runs import RunFolder, create_run_dir, list_runs, update_latest

NOW = datetime(2026, 11, 23, 14, 5, 32)


def test_two_runs_in_the_same_second_get_different_folders(tmp_path):
    a = create_run_dir(tmp_path, "exp", now=NOW)
    b = create_run_dir(tmp_path, "exp", now=NOW)
    assert a.name == "2026-11-23T14-05-32_exp"
    assert b.name == "2026-11-23T14-05-32_exp_2"
    assert (a / "plots").is_dir()


def test_concurrent_creation_never_shares_a_folder(tmp_path):
    made = []
    threads = [
        threading.Thread(target=lambda: made.append(create_run_dir(tmp_path, "x", now=NOW)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8


def test_latest_points_at_the_newest_run(tmp_path):
    a = create_run_dir(tmp_path, "a", now=NOW)
    update_latest(tmp_path, a)
    b = create_run_dir(tmp_path, "b", now=NOW)
    update_latest(tmp_path, b)
    assert (tmp_path / "latest").resolve() == b.resolve()


def test_a_failure_between_write_and_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    atomic.write_text(path, "old")

    def broken_replace(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="killed"):
        atomic.write_text(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]  # no temporary left


def test_an_exception_while_writing_keeps_the_old_npz(tmp_path):
    path = tmp_path / "checkpoint.npz"
    atomic.save_npz(path, {"a": np.arange(3)})
    with pytest.raises(ValueError), atomic.atomic_open(path, "wb") as f:
        f.write(b"half")
        raise ValueError("interrupted")
    with np.load(path) as f:
        np.testing.assert_array_equal(f["a"], np.arange(3))


def test_summary_metrics_and_history(tmp_path):
    folder = RunFolder(create_run_dir(tmp_path, "x"))
    folder.update_summary(status="running", seed=1)
    folder.update_summary(status="completed", best_val_acc=np.float32(0.5), test_acc=float("nan"))
    assert folder.read_summary() == {  # None (NaN) is absent, not a marker
        "status": "completed",
        "seed": 1,
        "best_val_acc": 0.5,
        "format": 1,
    }
    assert "NaN" not in folder.summary_path.read_text()  # strict JSON for other tools
    folder.append_metrics({"step": 1, "loss": 2.0})
    folder.append_metrics({"step": 2, "loss": 1.5})
    with open(folder.metrics_path, "a") as f:
        f.write('{"step": 3, "lo')  # a line torn by a kill
    assert folder.read_metrics() == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]
    folder.truncate_metrics(1)
    assert folder.read_metrics() == [{"step": 1, "loss": 2.0}]
    folder.write_history(
        [{"epoch": 1, "lr": 0.1, "train_acc": 0.5, "val_acc": 0.4, "loss": 1.0, "seconds": 2.0}]
    )
    assert folder.history_path.read_text().splitlines() == [
        "epoch,lr,train_acc,val_acc,loss,seconds",
        "1,0.1,0.5,0.4,1.0,2.0",
    ]


def test_model_file_has_no_pickles_and_round_trips(tmp_path):
    folder = RunFolder(create_run_dir(tmp_path, "x"))
    spec = {"type": "mlp", "hidden_dims": [3]}
    folder.save_model(
        spec,
        {"W1": np.ones((2, 3))},
        ["subtract_mean"],
        {"preprocess/0/subtract_mean/mean": np.zeros(2)},
        {"class_names": ["a", "b"]},
    )
    with np.load(folder.model_path, allow_pickle=False) as f:
        assert sorted(f.files) == ["info", "model/W1", "preprocess/0/subtract_mean/mean"]
    info, model_arrays, pre = folder.load_model()
    assert info == {
        "format": 1,
        "spec": spec,
        "preprocess": ["subtract_mean"],
        "class_names": ["a", "b"],
    }
    np.testing.assert_array_equal(model_arrays["W1"], np.ones((2, 3)))
    assert list(pre) == ["preprocess/0/subtract_mean/mean"]


def test_opening_folders_that_are_not_runs(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        RunFolder.open(tmp_path / "nope")
    with pytest.raises(RunError, match="is not a run folder"):
        RunFolder.open(tmp_path)
    folder = RunFolder(create_run_dir(tmp_path, "x"))
    folder.write_config("name: x\n")
    folder.update_summary(status="failed")
    with pytest.raises(RunError, match="has no model.npz"):
        RunFolder.open(folder.path).load_model()


def test_list_runs_sorts(tmp_path):
    for name, acc, started in (("a", 0.3, 3), ("b", 0.9, 1), ("c", None, 2)):
        path = tmp_path / name
        path.mkdir()
        (path / "summary.json").write_text(
            json.dumps({"status": "completed", "best_val_acc": acc, "started": started})
        )
    (tmp_path / "not-a-run").mkdir()
    assert [r["run"] for r in list_runs(tmp_path, sort="val_acc")] == ["b", "a", "c"]
    assert [r["run"] for r in list_runs(tmp_path, sort="time")] == ["a", "c", "b"]
    assert [r["run"] for r in list_runs(tmp_path, sort="name", top=2)] == ["a", "b"]
    with pytest.raises(RunError, match="cannot sort by 'speed'"):
        list_runs(tmp_path, sort="speed")
