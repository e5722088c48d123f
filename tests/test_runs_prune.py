"""`nnctl runs rm` and `nnctl runs gc`: they ask first (unless --yes), never touch a folder
another process holds, delete only what they list, and keep what a resume needs."""

import json
import shutil

import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import validate
from nnctl.experiment import run_experiment
from nnctl.runs import FolderLock, RunFolder, update_latest
from nnctl.sweep import run_sweep

BASE = {
    "name": "gc",
    "seed": 1,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 60, "val": 30}},
    "model": {"hidden_dims": [8]},
    "train": {"optimizer": "adam", "learning_rate": 1e-2, "batch_size": 30, "epochs": 1},
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished run and a finished sweep of three trials, made once."""
    runs = tmp_path_factory.mktemp("made")
    run = run_experiment(validate(BASE), runs, quiet=True).run_dir
    config = json.loads(json.dumps(BASE))
    config["sweep"] = {"params": {"model.reg": [0.0, 0.1, 0.2]}}
    sweep = run_sweep(validate(config), runs, workers=1).folder
    return runs, run.name, sweep.name


@pytest.fixture
def runs(made, tmp_path):
    """A private copy of the made runs folder: (runs, run, sweep) paths."""
    source, run, sweep = made
    target = tmp_path / "runs"
    shutil.copytree(source, target, symlinks=True)
    return target, target / run, target / sweep


def invoke(*args, input=None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    assert "Traceback" not in result.output
    return result


def test_rm_asks_and_deletes_only_when_told_yes(runs):
    root, run, sweep = runs
    result = invoke("runs", "rm", run, sweep, input="n\n")
    assert result.exit_code == 1 and "nothing deleted" in result.output
    assert (
        f"run    {run.resolve()}" in result.output and f"sweep  {sweep.resolve()}" in result.output
    )
    assert run.is_dir() and sweep.is_dir()
    result = invoke("runs", "rm", run, input="y\n")
    assert result.exit_code == 0 and "deleted 1 folder(s)" in result.output
    assert not run.exists() and sweep.is_dir()


def test_rm_with_yes_follows_latest_and_removes_the_dangling_link(runs):
    root, run, sweep = runs
    update_latest(root, run)
    result = invoke("runs", "rm", root / "latest", "--yes")
    assert result.exit_code == 0, result.output
    assert not run.exists() and not (root / "latest").is_symlink()


def test_rm_refuses_folders_in_use_trials_and_non_runs(runs, tmp_path):
    root, run, sweep = runs
    with FolderLock(sweep):
        result = invoke("runs", "rm", run, sweep, "--yes")
    assert result.exit_code == 2 and "in use by process" in result.output
    assert run.is_dir() and sweep.is_dir()  # nothing, not even the free one, was deleted
    result = invoke("runs", "rm", sweep / "trials" / "001", "--yes")
    assert result.exit_code == 2 and "is a trial of the sweep" in result.output
    (tmp_path / "notes").mkdir()
    result = invoke("runs", "rm", tmp_path / "notes", "--yes")
    assert result.exit_code == 2 and "is not a run folder" in result.output
    assert (tmp_path / "notes").is_dir()


def test_gc_prunes_finished_checkpoints_and_keeps_resumable_ones(runs):
    root, run, sweep = runs
    interrupted = root / "interrupted"
    shutil.copytree(run, interrupted)
    RunFolder(interrupted).update_summary(status="interrupted")
    result = invoke("runs", "gc", "--runs-dir", root, input="y\n")
    assert result.exit_code == 0, result.output
    assert not (run / "checkpoint.npz").exists() and (run / "model.npz").exists()
    assert (interrupted / "checkpoint.npz").exists()  # it can still be resumed
    assert not list(sweep.glob("trials/*/checkpoint.npz"))
    assert len(list(sweep.glob("trials/*/model.npz"))) == 3  # without --keep-best: kept
    assert invoke("runs", "gc", "--runs-dir", root).output == "nothing to delete\n"


def test_gc_keep_best_keeps_only_the_best_trials_model(runs):
    root, run, sweep = runs
    (sweep / "data" / "x").mkdir(parents=True)  # a stored copy of the data, for workers
    result = invoke("runs", "gc", "--runs-dir", root, "--keep-best", "--yes")
    assert result.exit_code == 0, result.output
    best = (sweep / "best").resolve()
    assert [p.parent for p in sweep.glob("trials/*/model.npz")] == [best]
    assert not (sweep / "data").exists()
    assert (run / "model.npz").exists()  # a standalone run keeps its model


def test_gc_skips_folders_in_use_and_asks_first(runs):
    root, run, sweep = runs
    with FolderLock(run):
        result = invoke("runs", "gc", "--runs-dir", root, input="n\n")
        assert result.exit_code == 1 and "nothing deleted" in result.output
        assert f"skipped {run}: another process is using it" in result.output
        assert len(list(sweep.glob("trials/*/checkpoint.npz"))) == 3
        result = invoke("runs", "gc", "--runs-dir", root, "--yes")
    assert result.exit_code == 0
    assert (run / "checkpoint.npz").exists() and not list(sweep.glob("trials/*/checkpoint.npz"))
