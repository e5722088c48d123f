"""Sweep folders: every read and write of a sweep's files goes through SweepFolder.

runs/<timestamp>_<name>-sweep/
  sweep.yaml     the resolved config with its sweep block, and the list of trials
  config.yaml    the resolved config (what `nnctl sweep --resume DIR` reads)
  summary.json   the sweep's status, trial counts and best trial
  results.csv    one row per trial, rewritten atomically after each trial finishes
  points.csv     one row per point: the metric's mean and std over its repeats, best first
  trials/NNN/    one complete run folder per trial
  best ->        the best trial's folder
  data/<key>/    the loaded data, for workers that cannot share memory (Dask)
  plots/         metric against the swept parameters, top trials' accuracy curves
  .lock .stop    who runs the sweep; a stop request its trials watch for
"""

import csv
import io
from pathlib import Path

import yaml

from nnctl import atomic
from nnctl.errors import RunError
from nnctl.runs.folder import (
    FORMAT,
    RunFolder,
    check_format,
    create_run_dir,
    effective_status,
    link_atomically,
    read_config_file,
    read_pngs,
    read_summary,
    update_summary,
)
from nnctl.runs.lock import FolderLock

SWEEP_FILE = "sweep.yaml"
STOP_FILE = ".stop"


class SweepFolder:
    def __init__(self, path):
        self.path = Path(path)
        self.spec_path = self.path / SWEEP_FILE
        self.config_path = self.path / "config.yaml"
        self.summary_path = self.path / "summary.json"
        self.results_path = self.path / "results.csv"
        self.points_path = self.path / "points.csv"
        self.trials_dir = self.path / "trials"
        self.plots = self.path / "plots"
        self.best_link = self.path / "best"
        self.stop_path = self.path / STOP_FILE
        self.report_path = self.path / "report.html"

    @staticmethod
    def is_sweep(path):
        return (Path(path) / SWEEP_FILE).is_file()

    @classmethod
    def create(cls, runs_dir, name):
        """A new, empty sweep folder (with plots/ and trials/)."""
        folder = cls(create_run_dir(runs_dir, f"{name}-sweep"))
        folder.trials_dir.mkdir()
        return folder

    @classmethod
    def open(cls, path):
        folder = cls(path)
        if not folder.path.is_dir():
            raise RunError(f"{folder.path} does not exist")
        if not folder.spec_path.is_file():
            raise RunError(f"{folder.path} is not a sweep folder (no {SWEEP_FILE})")
        return folder

    def lock(self):
        return FolderLock(self.path)

    # -- the sweep's own files ------------------------------------------------------------

    def write_spec(self, config_json, config_yaml, trials):
        """sweep.yaml (config and trial list) and config.yaml."""
        listing = [
            {"number": t.number, "id": t.id, "params": t.params, "seed": t.config.seed}
            for t in trials
        ]
        text = yaml.safe_dump(
            {"format": FORMAT, "config": config_json, "trials": listing}, sort_keys=False
        )
        atomic.write_text(self.spec_path, text)
        atomic.write_text(self.config_path, config_yaml)

    def read_spec(self):
        """(config dict, [trial dicts]) from sweep.yaml; RunError naming it when damaged."""
        try:
            saved = yaml.safe_load(self.spec_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise RunError(f"{self.spec_path} is damaged: {err}") from None
        if not (
            isinstance(saved, dict)
            and isinstance(saved.get("config"), dict)
            and isinstance(saved.get("trials"), list)
            and all(isinstance(t, dict) and "id" in t for t in saved["trials"])
        ):
            raise RunError(f"{self.spec_path} is damaged: it lacks the config or the trial list")
        check_format(saved.get("format", FORMAT), self.spec_path)
        return saved["config"], saved["trials"]

    def read_config(self):
        """The sweep's resolved config (an ExperimentConfig, with its sweep block)."""
        return read_config_file(self.config_path)

    def read_plots(self):
        """{file name: PNG bytes} of the sweep's own pictures in plots/."""
        return read_pngs(self.plots)

    def write_report(self, text):
        atomic.write_text(self.report_path, text)

    def read_summary(self):
        return read_summary(self.summary_path)

    def update_summary(self, **fields):
        return update_summary(self.summary_path, fields)

    def status(self):
        return effective_status(self.path, self.read_summary())

    def write_results(self, rows, columns):
        _write_csv(self.results_path, rows, columns)

    def write_points(self, rows, columns):
        _write_csv(self.points_path, rows, columns)

    def read_results(self):
        """results.csv as a list of dicts of strings ('' is an absent value)."""
        try:
            with open(self.results_path, encoding="utf-8", newline="") as f:
                return list(csv.DictReader(f))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise RunError(f"{self.results_path} is damaged: {err}") from None

    # -- trials ---------------------------------------------------------------------------

    def trial_path(self, number):
        return self.trials_dir / f"{number:03d}"

    def trial(self, number):
        return RunFolder(self.trial_path(number))

    def trial_summary(self, number):
        """A trial folder's summary ({} before the trial has written one)."""
        return self.trial(number).read_summary()

    def link_best(self, number):
        link_atomically(self.best_link, Path("trials") / f"{number:03d}")

    def best(self):
        """The best trial's folder, or RunError if the sweep has none yet."""
        if not self.best_link.exists():
            raise RunError(f"sweep {self.path} has no best trial yet")
        return self.best_link.resolve()

    def data_path(self, key):
        return self.path / "data" / key

    # -- stopping -------------------------------------------------------------------------

    def request_stop(self):
        """Ask every running trial to stop after its current step (they watch this file)."""
        try:
            self.stop_path.touch()
        except OSError:
            pass

    def clear_stop(self):
        self.stop_path.unlink(missing_ok=True)


def _write_csv(path, rows, columns):
    """A table written atomically; None is an empty cell, keys not in columns are left out."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    atomic.write_text(path, buffer.getvalue())
