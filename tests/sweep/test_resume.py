"""Resuming sweeps: --retry-failed, --resume . inside the folder, a sweep in use, damaged
trial files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.runs import FolderLock

SWEEP = """\
name: toy
data: {dataset: blobs, classes: 3, dim: 6, noise: 2.5, split: {train: 300, val: 90, test: 30}}
model: {hidden_dims: [16]}
train: {optimizer: adam, batch_size: 30, epochs: 2}
sweep:
  params:
    train.learning_rate: [1e-3, 1e-2]
"""


@pytest.fixture
def swept(tmp_path, monkeypatch):
    """A finished sweep whose second trial failed (an error after training)."""
    from nnctl.experiment.runners import NetJob

    real_fields = NetJob.summary_fields

    def fields(self, result):
        if self.config.train.learning_rate == 1e-2:
            raise OSError("the disk was full")
        return real_fields(self, result)

    monkeypatch.setattr(NetJob, "summary_fields", fields)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            str(tmp_path / "sweep.yaml"),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(NetJob, "summary_fields", real_fields)
    [folder] = [p for p in (tmp_path / "runs").iterdir() if not p.is_symlink()]
    return folder


def statuses(folder):
    return [
        json.loads((p / "summary.json").read_text())["status"]
        for p in sorted((Path(folder) / "trials").iterdir())
    ]


def test_retry_failed_runs_the_failed_trials_again_and_plain_resume_does_not(swept):
    assert statuses(swept) == ["completed", "failed"]
    plain = CliRunner().invoke(main, ["sweep", "--resume", str(swept)])
    assert plain.exit_code == 0 and statuses(swept) == ["completed", "failed"]
    retried = CliRunner().invoke(main, ["sweep", "--resume", str(swept), "--retry-failed"])
    assert retried.exit_code == 0, retried.output
    assert statuses(swept) == ["completed", "completed"]
    alone = CliRunner().invoke(main, ["sweep", str(swept / "config.yaml"), "--retry-failed"])
    assert alone.exit_code == 2 and "--retry-failed goes with --resume" in alone.output


def test_resume_dot_inside_the_sweep_folder(swept):
    result = subprocess.run(
        [sys.executable, "-m", "nnctl", "sweep", "--resume", ".", "--retry-failed"],
        cwd=swept, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert statuses(swept) == ["completed", "completed"]


def test_a_sweep_in_use_is_refused(swept):
    with FolderLock(swept):
        result = CliRunner().invoke(main, ["sweep", "--resume", str(swept)])
    assert result.exit_code == 2
    assert f"in use by process {os.getpid()}" in result.stderr


def test_a_damaged_trial_summary_is_an_input_error_that_changes_nothing(swept):
    damaged = swept / "trials" / "002" / "summary.json"
    damaged.write_text('{"status": "fail')
    before = {p: p.read_bytes() for p in swept.rglob("*") if p.is_file()}
    result = CliRunner().invoke(main, ["sweep", "--resume", str(swept), "--retry-failed"])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {damaged} is damaged: Unterminated string")
    assert {p: p.read_bytes() for p in swept.rglob("*") if p.is_file()} == before
