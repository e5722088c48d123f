"""Run folders: creation that never reuses a folder, atomic files, metrics log, summary,
and the saved model (arrays plus the config that rebuilds it, no pickles).

    runs/<timestamp>_<name>/
      config.yaml  metrics.jsonl  history.csv  summary.json  model.npz  checkpoint.npz
      plots/  log.txt
"""

import csv
import io
import json
import os
import platform
import subprocess
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

from nnctl import __version__, atomic
from nnctl.config import validate
from nnctl.errors import RunError
from nnctl.training.solver import Callback

TIMESTAMP = "%Y-%m-%dT%H-%M-%S"
HISTORY_FIELDS = ["epoch", "lr", "train_acc", "val_acc", "loss", "seconds"]
STATUSES = ("running", "completed", "diverged", "failed", "interrupted")


def create_run_dir(runs_dir, name, now=None):
    """A new folder runs_dir/<timestamp>_<name>, with a suffix (_2, _3, ...) if that exists.

    os.mkdir either creates the folder or fails, so two runs started in the same second (even
    in two processes) always get different folders.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    base = f"{(now or datetime.now()).strftime(TIMESTAMP)}_{name}"
    for attempt in range(1, 10_000):
        path = runs_dir / (base if attempt == 1 else f"{base}_{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        (path / "plots").mkdir()
        return path
    raise RunError(f"could not create a new run folder for {base} in {runs_dir}")


def update_latest(runs_dir, run_dir):
    """Point runs_dir/latest at run_dir (a relative symlink, replaced atomically)."""
    link = Path(runs_dir) / "latest"
    tmp = Path(runs_dir) / f".latest.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path(run_dir).name)
        os.replace(tmp, link)
    except OSError:  # a filesystem without symlinks: the link is a convenience only
        tmp.unlink(missing_ok=True)


def environment():
    """Versions and the git commit the code came from (when run inside a git checkout)."""
    info = {"nnctl": __version__, "numpy": np.__version__, "python": platform.python_version()}
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        info.update(git_commit=commit, git_dirty=bool(dirty))
    except (OSError, subprocess.SubprocessError):
        pass
    return info


class RunFolder:
    """The files of one run. Every write is atomic except metrics.jsonl, which is appended
    and flushed line by line (a torn last line is skipped by read_metrics)."""

    def __init__(self, path):
        self.path = Path(path)
        self.plots = self.path / "plots"
        self.config_path = self.path / "config.yaml"
        self.metrics_path = self.path / "metrics.jsonl"
        self.history_path = self.path / "history.csv"
        self.summary_path = self.path / "summary.json"
        self.model_path = self.path / "model.npz"
        self.checkpoint_path = self.path / "checkpoint.npz"
        self.log_path = self.path / "log.txt"
        self.eval_path = self.path / "eval.json"

    @classmethod
    def open(cls, path):
        """An existing run folder; RunError if path is not one."""
        folder = cls(path)
        if not folder.path.is_dir():
            raise RunError(f"{folder.path} does not exist")
        if not folder.config_path.is_file() or not folder.summary_path.is_file():
            raise RunError(f"{folder.path} is not a run folder (no config.yaml and summary.json)")
        return folder

    def write_config(self, text):
        atomic.write_text(self.config_path, text)

    def read_config(self):
        """The run's resolved config, validated (an ExperimentConfig)."""
        text = self.config_path.read_text(encoding="utf-8")
        return validate(yaml.safe_load(text), source=str(self.config_path))

    def append_metrics(self, record):
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(to_json(record) + "\n")
            f.flush()

    def truncate_metrics(self, max_step):
        """Drop records past step max_step (written after the checkpoint a resume starts from)."""
        kept = [r for r in self.read_metrics() if r.get("step", 0) <= max_step]
        atomic.write_text(self.metrics_path, "".join(to_json(r) + "\n" for r in kept))

    def read_metrics(self):
        records = []
        if self.metrics_path.is_file():
            for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records

    def write_history(self, records):
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=HISTORY_FIELDS, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(records)
        atomic.write_text(self.history_path, buffer.getvalue())

    def read_summary(self):
        try:
            return json.loads(self.summary_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as err:
            raise RunError(f"{self.summary_path} cannot be read ({err})") from None

    def update_summary(self, **fields):
        """Merge fields into summary.json (written atomically). Returns the new summary."""
        summary = self.read_summary()
        summary.update(fields)
        atomic.write_text(self.summary_path, to_json(summary, indent=2) + "\n")
        return summary

    def save_model(self, spec, model_arrays, preprocess, preprocess_arrays, meta):
        """model.npz: the model's arrays under model/, the preprocessing state under
        preprocess/, and spec + steps + meta as a JSON string (loadable without pickles)."""
        arrays = {f"model/{k}": v for k, v in model_arrays.items()}
        arrays.update(preprocess_arrays)
        info = {"spec": spec, "preprocess": list(preprocess), **meta}
        arrays["info"] = np.array(to_json(info))
        atomic.save_npz(self.model_path, arrays)

    def load_model(self):
        """(info, model_arrays, preprocess_arrays) from model.npz; RunError if absent/corrupt."""
        if not self.model_path.is_file():
            raise RunError(f"{self.path} has no model.npz (the run did not finish training)")
        try:
            with np.load(self.model_path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
            info = json.loads(str(arrays.pop("info")))
        except (OSError, ValueError, KeyError) as err:
            raise RunError(f"{self.model_path} cannot be read ({err})") from None
        model_arrays = {
            k.removeprefix("model/"): v for k, v in arrays.items() if k.startswith("model/")
        }
        preprocess_arrays = {k: v for k, v in arrays.items() if k.startswith("preprocess/")}
        return info, model_arrays, preprocess_arrays


def to_json(value, indent=None):
    """Strict JSON: NumPy values become plain ones, and NaN or infinities (an accuracy on an
    empty split) become null, which every JSON reader accepts."""
    return json.dumps(_finite_floats(value), indent=indent, default=_json_default, allow_nan=False)


def _finite_floats(value):
    if isinstance(value, dict):
        return {k: _finite_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_floats(v) for v in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    return value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class RunRecorder(Callback):
    """Writes the Solver's events into a run folder: metrics.jsonl as training goes, and after
    every epoch history.csv, checkpoint.npz and the summary's progress fields."""

    def __init__(self, folder, log_every=1):
        self.folder = folder
        self.log_every = log_every

    def on_step(self, solver, loss):
        if solver.iteration % self.log_every == 0:
            epoch = solver.epoch + solver.batch_in_epoch / solver.iterations_per_epoch
            self.folder.append_metrics(
                {"step": solver.iteration, "epoch": round(epoch, 4), "loss": loss}
            )

    def on_epoch_end(self, solver, record):
        self.folder.append_metrics({"step": solver.iteration, **record})
        self.folder.write_history(solver.epoch_records())
        solver.save_checkpoint(self.folder.checkpoint_path)
        self.folder.update_summary(
            epochs=solver.epoch,
            best_val_acc=solver.best_val_acc,
            best_epoch=solver.best_epoch,
            updated=time.time(),
        )


RUN_SORT_KEYS = {
    "val_acc": "best_val_acc",
    "test_acc": "test_acc",
    "time": "started",
    "name": "run",
}


def list_runs(runs_dir, sort="time", top=None):
    """One row per run folder in runs_dir (name, status, model, best_val_acc, test_acc, epochs,
    seconds), sorted by `sort` (val_acc and test_acc best first, time newest first)."""
    if sort not in RUN_SORT_KEYS:
        raise RunError(f"cannot sort by {sort!r}; valid: {', '.join(RUN_SORT_KEYS)}")
    rows = []
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunError(f"runs folder {runs_dir} does not exist")
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        summary_path = path / "summary.json"
        if not summary_path.is_file():
            continue
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            summary = {"status": "unreadable"}
        rows.append(
            {
                "run": path.name,
                "status": summary.get("status"),
                "model": summary.get("model"),
                "best_val_acc": summary.get("best_val_acc"),
                "test_acc": summary.get("test_acc"),
                "epochs": summary.get("epochs"),
                "seconds": summary.get("seconds"),
                "started": summary.get("started") or 0,
            }
        )
    key = RUN_SORT_KEYS[sort]
    descending = sort != "name"
    missing = float("-inf") if descending else ""
    rows.sort(key=lambda r: missing if r[key] is None else r[key], reverse=descending)
    return rows[:top] if top else rows
