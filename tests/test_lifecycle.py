"""The lifecycle of anything that writes: validate before creating, a truthful status on every
exit path, one line on the console, damaged files as input errors, one writer per folder.

Signals are sent to real `nnctl` processes at chosen moments through the NNCTL_FAULT_AT hook.
"""

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.runs import FolderLock, list_runs

CONFIG = """\
name: life
data: {dataset: blobs, classes: 3, dim: 8, noise: 2.0, split: {train: 600, val: 90, test: 60}}
model: {hidden_dims: [12]}
train: {optimizer: adam, learning_rate: 1e-2, batch_size: 30, epochs: 3}
"""


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "life.yaml"
    path.write_text(CONFIG)
    return path


def nnctl(*args, fault=None, cwd=None, timeout=120):
    env = {**os.environ, "NNCTL_FAULT_AT": fault or ""}
    return subprocess.run(
        [sys.executable, "-m", "nnctl", *map(str, args)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
    )  # fmt: skip


def run_folders(runs):
    return [p for p in Path(runs).iterdir() if p.is_dir() and not p.is_symlink()]


def status_of(folder):
    return json.loads((Path(folder) / "summary.json").read_text())["status"]


def fingerprint(folder):
    """Every file's bytes and mode: a folder left exactly as it was has the same print."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode)
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("fault", "made"),
    [
        ("start:SIGINT", False),
        ("loaded:SIGTERM", False),
        ("created:SIGTERM", True),
        ("epoch:SIGINT", True),
        ("epoch:SIGTERM", True),
        ("trained:SIGTERM", True),
        ("saved:SIGINT", True),
    ],
)
def test_a_signal_at_any_moment_ends_interrupted_with_exit_130(tmp_path, config, fault, made):
    runs = tmp_path / "runs"
    result = nnctl("train", config, "--runs-dir", runs, "--quiet", fault=fault)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    folders = run_folders(runs) if runs.exists() else []
    if not made:  # stopped before the folder: nothing was written
        assert folders == [] and result.stderr.strip() == "interrupted"
        return
    [folder] = folders
    assert status_of(folder) == "interrupted"
    assert f"--resume {folder}" in result.stderr
    if fault.startswith("epoch"):  # a checkpoint, and what eval/viz-weights need
        assert (folder / "checkpoint.npz").is_file() and (folder / "model.npz").is_file()
        assert (folder / "plots" / "loss.png").is_file()
        assert (folder / "plots" / "weights.png").is_file()
        evaluated = nnctl("eval", folder)
        assert evaluated.returncode == 0, evaluated.stderr
        assert "note: the run was interrupted: scoring its best parameters (epoch 1)" in (
            evaluated.stderr
        )
    if fault != "created:SIGTERM":  # resume finishes it
        resumed = nnctl("train", config, "--resume", folder, "--quiet")
        assert resumed.returncode == 0, resumed.stderr
        assert status_of(folder) == "completed"


def test_a_failure_keeps_its_traceback_in_log_txt_and_prints_one_line(tmp_path, monkeypatch):
    from nnctl.experiment.runners import NetJob

    def broken(self, folder):
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(NetJob, "_plot", broken)
    (tmp_path / "life.yaml").write_text(CONFIG)
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "life.yaml"), "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "out of cheese" in errors[0]
    assert "Traceback" not in result.output + result.stderr
    [folder] = run_folders(tmp_path / "runs")
    assert status_of(folder) == "failed"
    log = (folder / "log.txt").read_text()
    assert "Traceback" in log and "RuntimeError: out of cheese" in log


def test_an_unexpected_error_outside_a_run_is_one_line_too(tmp_path, monkeypatch):
    import nnctl.runs.listing as listing

    monkeypatch.setattr(listing, "_row", lambda path: 1 / 0)
    (tmp_path / "x").mkdir()
    result = CliRunner().invoke(main, ["runs", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: internal error (ZeroDivisionError: division by zero); "
        "run with --debug for the traceback"
    ]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 400 kB tmpfs (needs root); skipped where it cannot be mounted."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_ends_failed_with_one_line(tmp_path, config, tiny_disk):
    # Each checkpoint of this net is ~600 kB: the first one does not fit.
    big = CONFIG.replace("hidden_dims: [12]", "hidden_dims: [2000, 60]")
    config.write_text(big)
    result = nnctl("train", config, "--runs-dir", tiny_disk / "runs", "--quiet")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == [
        line for line in result.stderr.splitlines() if "No space left on device" in line
    ]
    [folder] = run_folders(tiny_disk / "runs")
    assert status_of(folder) == "failed"


def test_a_read_only_runs_folder_is_refused_before_anything_runs(tmp_path, config, tiny_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    result = nnctl("train", config, "--runs-dir", tiny_disk / "runs", "--quiet")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: cannot write run folders in {tiny_disk / 'runs'} (Read-only file system)"
    ]


def test_a_folder_in_use_is_refused_naming_the_process_and_a_killed_one_is_stale(tmp_path, config):
    runs = tmp_path / "runs"
    assert nnctl("train", config, "--runs-dir", runs, "--quiet", fault="epoch:SIGINT").returncode
    [folder] = run_folders(runs)
    before = fingerprint(folder)
    with FolderLock(folder):
        result = nnctl("train", config, "--resume", folder, "--quiet")
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"error: {folder} is in use by process {os.getpid()} on {os.uname().nodename}; "
            "wait for it to finish or stop it first"
        ]
        assert fingerprint(folder) == {
            **before,
            ".lock": fingerprint(folder)[".lock"],  # the holder wrote its pid
        }
    # A run that says running while nobody holds its lock was killed: stale.
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    assert [r["status"] for r in list_runs(runs)] == ["stale"]
    with FolderLock(folder):
        assert [r["status"] for r in list_runs(runs)] == ["running"]
    resumed = nnctl("train", config, "--resume", folder, "--quiet")  # stale runs resume
    assert resumed.returncode == 0, resumed.stderr


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_bits(path):
    """Flip the last 4 bytes of the first weight matrix's data (not a zip header field that
    readers ignore, such as a timestamp)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if "W1" in i.filename)
    end = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size
    data = bytearray(path.read_bytes())
    data[end - 4 : end] = bytes(b ^ 0xFF for b in data[end - 4 : end])
    path.write_bytes(bytes(data))


def _newer_summary(path):
    path.write_text(json.dumps({**json.loads(path.read_text()), "format": 99}))


def _garbage(path):
    path.write_bytes(b"\x00\xff not yaml: [")


@pytest.mark.parametrize(
    ("command", "file", "damage", "message"),
    [
        ("resume", "checkpoint.npz", _truncate, "checkpoint.npz is damaged"),
        ("resume", "checkpoint.npz", _flip_bits, "checkpoint.npz"),
        ("eval", "model.npz", _truncate, "model.npz is damaged"),
        ("eval", "model.npz", _flip_bits, "model.npz"),
        ("eval", "summary.json", _newer_summary, "written by a newer nnctl (format 99"),
        ("resume", "summary.json", _truncate, "summary.json is damaged"),
        ("eval", "config.yaml", _garbage, "config.yaml"),
        ("viz-weights", "model.npz", _truncate, "model.npz is damaged"),
    ],
)
def test_damaged_files_are_input_errors_that_leave_the_folder_as_it_was(
    tmp_path, config, command, file, damage, message
):
    runs = tmp_path / "runs"
    assert nnctl("train", config, "--runs-dir", runs, "--quiet", fault="epoch:SIGINT").returncode
    [folder] = run_folders(runs)
    damage(folder / file)
    before = fingerprint(folder)
    if command == "resume":
        result = nnctl("train", config, "--resume", folder, "--quiet")
    else:
        result = nnctl(command, folder)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and message in line and "pickle" not in line
    assert fingerprint(folder) == before


def test_files_follow_the_umask(tmp_path, config):
    runs = tmp_path / "runs"
    old = os.umask(0o022)
    try:
        env_result = nnctl("train", config, "--runs-dir", runs, "--quiet")
    finally:
        os.umask(old)
    assert env_result.returncode == 0
    [folder] = run_folders(runs)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}
    assert modes and all(mode == 0o644 for mode in modes.values()), modes


def test_piped_output_has_no_progress_frames_and_progress_can_be_asked_for(tmp_path, config):
    plain = nnctl("train", config, "--runs-dir", tmp_path / "runs")
    assert plain.returncode == 0 and "\r" not in plain.stderr and "epoch 3/3" in plain.stderr
    bars = nnctl("train", config, "--runs-dir", tmp_path / "runs", "--progress")
    assert bars.returncode == 0 and "it/s]" in bars.stderr  # tqdm's bar


def test_eval_of_a_diverged_run_says_what_it_scores(tmp_path, config):
    runs = tmp_path / "runs"
    result = nnctl(
        "train", config, "--runs-dir", runs, "--quiet", "train.learning_rate=30",
        "train.optimizer=sgd",
    )  # fmt: skip
    assert result.returncode == 1
    [folder] = run_folders(runs)
    assert status_of(folder) == "diverged"
    evaluated = nnctl("eval", folder)
    if (folder / "model.npz").is_file():
        epoch = json.loads((folder / "summary.json").read_text())["model_epoch"]
        assert f"the run diverged: scoring its best parameters before that (epoch {epoch})" in (
            evaluated.stderr
        )
    else:  # it diverged in its first epoch: nothing worth scoring was kept
        assert evaluated.returncode == 2 and "has no model.npz" in evaluated.stderr


# Trials 1 and 2 start together; trial 1 (one epoch, 0.05 s) ends first, and the Ctrl-C
# that follows finds trial 2 (150 epochs, 2.5 s on a quiet machine) in the middle of its
# training. The Ctrl-C comes after the sweep has written trial 1's results; with 30 epochs
# (0.5 s) trial 2 once finished first on a loaded machine.
SWEEP = (
    CONFIG.replace("train: 600", "train: 3000")
    + """\
sweep:
  params:
    model.reg: [0.0, 1e-3]
    train.epochs: [1, 150]
"""
)


def test_ctrl_c_in_a_sweep_stops_cleanly_and_resume_equals_a_straight_sweep(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnctl", "sweep", str(path), "--runs-dir", str(runs),
         "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "NNCTL_FAULT_AT": "trial:SIGINT"},
    )  # fmt: skip
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not re.search(r"epoch \d+/\d+", err)  # trials' epoch lines stay in their log.txt
    with pytest.raises(ProcessLookupError):  # no worker left behind
        os.killpg(proc.pid, 0)
    [folder] = run_folders(runs)
    assert (runs / "latest").resolve() == folder.resolve()
    assert status_of(folder) == "interrupted"
    statuses = [status_of(p) for p in sorted((folder / "trials").iterdir())]
    assert "failed" not in statuses and "running" not in statuses
    assert statuses[:2] == ["completed", "interrupted"] and len(statuses) < 4
    for trial in (folder / "trials").iterdir():
        if status_of(trial) == "interrupted":
            assert (trial / "checkpoint.npz").is_file() or not (trial / "history.csv").exists()
    resumed = nnctl("sweep", "--resume", folder, "--workers", "2", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    straight = nnctl("sweep", path, "--runs-dir", tmp_path / "straight", "--workers", "2")
    assert straight.returncode == 0
    [other] = run_folders(tmp_path / "straight")
    assert (folder / "results.csv").read_text().replace("\r", "").splitlines()[1:] != []

    def numbers(sweep):
        import csv

        with open(sweep / "results.csv") as f:
            return [
                (r["trial"], r["status"], r["best_val_acc"], r["epochs"]) for r in csv.DictReader(f)
            ]

    assert numbers(folder) == numbers(other)
    listed = {r["run"]: r for r in list_runs(runs)}
    assert listed[folder.name]["kind"] == "sweep" and listed[folder.name]["best_trial"]
