"""`nnctl runs`: one row per run or sweep folder in a runs folder."""

from pathlib import Path

from nnctl.errors import RunError
from nnctl.runs.folder import RunFolder, effective_status
from nnctl.runs.sweep_folder import SweepFolder

RUN_SORT_KEYS = {
    "val_acc": "best_val_acc",
    "test_acc": "test_acc",
    "time": "started",
    "name": "run",
}


def _row(path):
    sweep = SweepFolder.is_sweep(path)
    folder = SweepFolder(path) if sweep else RunFolder(path)
    if not folder.summary_path.is_file():
        return None
    try:
        summary = folder.read_summary()
        status = effective_status(path, summary)
    except RunError:
        summary, status = {}, "damaged"
    row = {
        "run": path.name,
        "kind": "sweep" if sweep else "run",
        "status": None if status is None else str(status),
        "model": summary.get("model"),
        "best_val_acc": summary.get("best_val_acc"),
        "test_acc": summary.get("test_acc"),
        "epochs": summary.get("epochs"),
        "seconds": summary.get("seconds"),
        "started": summary.get("started") or 0,
        "best_trial": summary.get("best_trial"),
        "trials": summary.get("trials"),
    }
    if sweep:
        row["model"] = "sweep"
    return row


def list_runs(runs_dir, sort="time", top=None):
    """One row per run or sweep folder in runs_dir (run, kind, status, model, best_val_acc,
    test_acc, epochs, seconds; sweeps also best_trial and trials), sorted by `sort` (val_acc
    and test_acc best first, time newest first). Runs whose process was killed show `stale`."""
    if sort not in RUN_SORT_KEYS:
        raise RunError(f"cannot sort by {sort!r}; valid: {', '.join(RUN_SORT_KEYS)}")
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunError(f"runs folder {runs_dir} does not exist")
    rows = []
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        row = _row(path)
        if row is not None:
            rows.append(row)
    key = RUN_SORT_KEYS[sort]
    descending = sort != "name"
    missing = float("-inf") if descending else ""
    rows.sort(key=lambda r: missing if r[key] is None else r[key], reverse=descending)
    return rows[:top] if top else rows
