"""Run folders: creation that never reuses a folder, atomic files, the metrics log, the
summary, checkpoints and the saved model (arrays plus the config that rebuilds it, no pickles).

    runs/<timestamp>_<name>/
      config.yaml  metrics.jsonl  history.csv  summary.json  model.npz  checkpoint.npz
      eval.json  plots/  log.txt  .lock

Every file a run folder holds is read through RunFolder, and a damaged one (truncated,
bit-flipped, tampered with, or written by a newer nnctl) is a RunError naming the file and
what is wrong: an input error, exit code 2, with the folder left as it was.
"""

import csv
import io
import json
import os
import platform
import subprocess
import tempfile
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np

from nnctl import __version__, atomic
from nnctl.config import validate
from nnctl.errors import ConfigError, RunError
from nnctl.runs.lock import FolderLock, holder
from nnctl.safeyaml import parse_yaml
from nnctl.status import Status

TIMESTAMP = "%Y-%m-%dT%H-%M-%S"
# A classifier's history.csv; an autoencoder's has train_error and val_error instead.
HISTORY_FIELDS = ["epoch", "lr", "train_acc", "val_acc", "loss", "seconds"]
FORMAT = 1  # version of the files nnctl writes; a newer one is refused, not misread
# Reading a damaged .npz can raise any of these (zip CRC errors, truncated headers, ...).
DAMAGED_NPZ = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError)


def probe_writable(runs_dir):
    """RunError unless run folders can be made in runs_dir: a file is written and removed in
    it (or, if it does not exist yet, in the nearest folder above it, which is where it would
    be made), so a read-only or full filesystem is found before a run starts. Leaves nothing
    behind."""
    runs_dir = Path(runs_dir)
    probe_dir = runs_dir
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise RunError(f"cannot make run folders in {runs_dir}: {probe_dir} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".nnctl-probe-") as f:
            f.write(b"0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise RunError(f"cannot write run folders in {runs_dir} ({reason})") from None


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
    link_atomically(Path(runs_dir) / "latest", Path(run_dir).name)


def link_atomically(link, target):
    """link -> target (a relative path), replacing any previous link in one step; a filesystem
    without symlinks just goes without (the links are conveniences)."""
    tmp = link.parent / f".{link.name}.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)


def environment():
    """Versions and the git commit the code came from (when run inside a git checkout)."""
    info = {"nnctl": __version__, "numpy": np.__version__, "python": platform.python_version()}
    root = Path(__file__).resolve().parents[2]
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


def read_json_file(path, what="file"):
    """The JSON object in path; RunError naming the file when it is damaged or too new."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:
        raise RunError(f"{path} is damaged: {err}") from None
    if not isinstance(value, dict):
        raise RunError(f"{path} is damaged: expected a JSON object, got {type(value).__name__}")
    check_format(value.get("format", FORMAT), path)
    return value


def check_format(version, path):
    if not isinstance(version, int) or isinstance(version, bool):
        raise RunError(f"{path} is damaged: format {version!r} is not a version number")
    if version > FORMAT:
        raise RunError(
            f"{path} was written by a newer nnctl (format {version}; this nnctl reads up to "
            f"{FORMAT}): upgrade nnctl to read it"
        )


def read_pngs(folder):
    """{file name: bytes} of every .png in folder, sorted by name ({} if it does not exist)."""
    try:
        paths = sorted(p for p in Path(folder).iterdir() if p.suffix == ".png" and p.is_file())
        return {p.name: p.read_bytes() for p in paths}
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise RunError(f"{folder} cannot be read ({err})") from None


def read_config_file(path):
    """The validated config in a run's or sweep's config.yaml (an ExperimentConfig); RunError
    naming the file when it cannot be read or is not a valid config."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"{path} cannot be read ({err})") from None
    try:
        data, _ = parse_yaml(text, source=str(path))
        return validate(data, source=str(path))
    except ConfigError as err:
        raise RunError(f"{path} is not a valid run config: {err}") from None


def read_summary(path):
    """A summary.json as a dict ({} when there is none yet); RunError when it is damaged."""
    try:
        return read_json_file(path)
    except FileNotFoundError:
        return {}


def update_summary(path, fields):
    """Merge fields into the summary.json at path (written atomically); a field given as None
    (or NaN) is removed: absent, not a marker. Returns the new summary. A damaged summary is
    not overwritten: RunError."""
    summary = read_summary(path)
    summary.update(fields)
    summary = {k: v for k, v in summary.items() if not _absent(v)}
    summary["format"] = FORMAT
    atomic.write_text(path, to_json(summary, indent=2) + "\n")
    return summary


def read_npz(path):
    """Every array of an .npz written by nnctl (no pickles); RunError naming the file when it
    is truncated, corrupted or not an .npz."""
    try:
        with zipfile.ZipFile(path) as archive:  # every member's CRC: catches flipped bits
            bad = archive.testzip()
        if bad is None:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except DAMAGED_NPZ as err:
        raise RunError(f"{path} is damaged: {err}") from None
    raise RunError(f"{path} is damaged: {bad} fails its checksum")


def _info_json(path, arrays, key):
    if key not in arrays:
        raise RunError(f"{path} is damaged: it has no {key!r} record")
    try:
        info = json.loads(str(arrays.pop(key)))
    except ValueError as err:
        raise RunError(f"{path} is damaged: its {key!r} record is not JSON ({err})") from None
    if not isinstance(info, dict):
        raise RunError(f"{path} is damaged: its {key!r} record is not a JSON object")
    check_format(info.get("format", FORMAT), path)
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
        self.report_path = self.path / "report.html"

    @classmethod
    def create(cls, runs_dir, name, now=None):
        """A new, empty run folder (with plots/) in runs_dir."""
        return cls(create_run_dir(runs_dir, name, now))

    @classmethod
    def open(cls, path):
        """An existing run folder; RunError if path is not one."""
        folder = cls(path)
        if not folder.path.is_dir():
            raise RunError(f"{folder.path} does not exist")
        if not folder.config_path.is_file() or not folder.summary_path.is_file():
            raise RunError(f"{folder.path} is not a run folder (no config.yaml and summary.json)")
        return folder

    def lock(self):
        """The folder's lock (a context manager); RunError if another process holds it."""
        return FolderLock(self.path)

    def status(self):
        """The run's Status, `stale` for a run whose process is gone."""
        return effective_status(self.path, self.read_summary())

    # -- config and summary ---------------------------------------------------------------

    def write_config(self, text):
        atomic.write_text(self.config_path, text)

    def read_config(self):
        """The run's resolved config, validated (an ExperimentConfig); RunError naming the file
        when it cannot be read or is not a valid config (e.g. written by a newer nnctl)."""
        return read_config_file(self.config_path)

    def read_summary(self):
        """summary.json as a dict ({} before the run has written one)."""
        return read_summary(self.summary_path)

    def update_summary(self, **fields):
        """Merge fields into summary.json; see update_summary()."""
        return update_summary(self.summary_path, fields)

    def read_eval(self):
        """eval.json as a dict ({} before the run was evaluated): split -> accuracy,
        per_class_accuracy, confusion, class_names, examples, model_epoch, note."""
        try:
            return read_json_file(self.eval_path)
        except FileNotFoundError:
            return {}

    # -- plots and the report -------------------------------------------------------------

    def read_plots(self):
        """{file name: PNG bytes} of every picture in plots/, sorted by name."""
        return read_pngs(self.plots)

    def write_report(self, text):
        atomic.write_text(self.report_path, text)

    # -- metrics and history --------------------------------------------------------------

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
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
        return records

    def write_history(self, records):
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer,
            fieldnames=list(records[0]) if records else HISTORY_FIELDS,
            extrasaction="ignore",
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(records)
        atomic.write_text(self.history_path, buffer.getvalue())

    def read_history(self):
        """history.csv as a list of dicts of floats ([] when absent)."""
        try:
            with open(self.history_path, encoding="utf-8", newline="") as f:
                return [
                    {k: float(v) if v not in ("", None) else None for k, v in row.items()}
                    for row in csv.DictReader(f)
                ]
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            raise RunError(f"{self.history_path} is damaged: {err}") from None

    # -- checkpoint and model -------------------------------------------------------------

    def write_checkpoint(self, arrays):
        atomic.save_npz(self.checkpoint_path, arrays)

    def read_checkpoint(self):
        """The checkpoint's arrays; RunError when absent or damaged."""
        try:
            return read_npz(self.checkpoint_path)
        except FileNotFoundError:
            raise RunError(f"{self.path} has no checkpoint.npz to resume from") from None

    def save_model(self, spec, model_arrays, preprocess, preprocess_arrays, meta):
        """model.npz: the model's arrays under model/, the preprocessing state under
        preprocess/, and spec + steps + meta as a JSON string (loadable without pickles)."""
        arrays = {f"model/{k}": v for k, v in model_arrays.items()}
        arrays.update(preprocess_arrays)
        info = {"format": FORMAT, "spec": spec, "preprocess": list(preprocess), **meta}
        arrays["info"] = np.array(to_json(info))
        atomic.save_npz(self.model_path, arrays)

    def load_model(self):
        """(info, model_arrays, preprocess_arrays) from model.npz; RunError if absent/damaged."""
        try:
            arrays = read_npz(self.model_path)
        except FileNotFoundError:
            raise RunError(
                f"{self.path} has no model.npz (the run stopped before it finished an epoch)"
            ) from None
        info = _info_json(self.model_path, arrays, "info")
        if not isinstance(info.get("spec"), dict) or not isinstance(info.get("preprocess"), list):
            raise RunError(f"{self.model_path} is damaged: its info lacks spec or preprocess")
        model_arrays = {
            k.removeprefix("model/"): v for k, v in arrays.items() if k.startswith("model/")
        }
        preprocess_arrays = {k: v for k, v in arrays.items() if k.startswith("preprocess/")}
        return info, model_arrays, preprocess_arrays


def effective_status(path, summary):
    """summary's status as a Status, `stale` when it says running but no process holds the
    folder's lock; None when the summary has none (or an unknown one)."""
    try:
        status = Status(summary.get("status"))
    except ValueError:
        return None
    if status is Status.RUNNING and holder(path) is None:
        return Status.STALE
    return status


def _absent(value):
    """None, NaN and infinities stand for "no value": such a field is left out."""
    return value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value))


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
