"""`nnctl compare`: what differs between runs (their configs, key by key) and how they did.

A run may be a run folder, a trial folder of a sweep (sweep/trials/003), or a sweep folder
(its best trial). Everything is read through RunFolder; a damaged file is a RunError.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from nnctl.errors import RunError
from nnctl.runs import RunFolder, SweepFolder, flat_config


@dataclass
class Compared:
    """labels[i] names run i; differences: (dotted key, [value per run]) for every key whose
    values are not all equal, of `keys` keys in all; results: (what, [value per run]);
    histories: the per-epoch records of each run (for --plot)."""

    labels: list
    names: list  # each run's experiment name (config name)
    paths: list
    differences: list
    keys: int
    results: list
    histories: list = field(default_factory=list)


def label_of(path):
    """A short name for a run folder: its folder name, 'sweep/trials/003' for a trial."""
    path = Path(path).resolve()
    if path.parent.name == "trials" and SweepFolder.is_sweep(path.parent.parent):
        return f"{path.parent.parent.name}/trials/{path.name}"
    return path.name


def _folder(given):
    path = Path(given)
    if SweepFolder.is_sweep(path):
        path = SweepFolder.open(path).best()
    return RunFolder.open(Path(path).resolve())


def _text(config, key):
    """A config value as comparable text (1 and 1.0 alike; absent differs from null)."""
    if key not in config:
        return "<absent>"
    value = config[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
    return json.dumps(value, sort_keys=True)


def _results(summary, history):
    epochs, total = summary.get("epochs"), summary.get("total_epochs")
    seconds = summary.get("seconds")
    per_epoch = None
    if isinstance(seconds, (int, float)) and isinstance(epochs, int) and epochs > 0:
        per_epoch = seconds / epochs
    final = history[-1] if history else {}
    return {
        "status": None,  # filled in by the caller (it needs the folder)
        "best val acc": summary.get("best_val_acc"),
        "best epoch": summary.get("best_epoch"),
        "final train acc": summary.get("train_acc", final.get("train_acc")),
        "final val acc": summary.get("val_acc", final.get("val_acc")),
        "test acc": summary.get("test_acc"),
        "k": summary.get("k"),
        "epochs": f"{epochs}/{total}" if epochs is not None and total else epochs,
        "seconds": seconds,
        "seconds per epoch": per_epoch,
    }


def compare_runs(paths):
    """Compared for two or more run folders (or trials, or sweeps: their best trial)."""
    if len(paths) < 2:
        raise RunError("give at least two runs to compare")
    folders = [_folder(p) for p in paths]
    seen = {}
    for given, folder in zip(paths, folders, strict=True):
        if folder.path in seen:
            raise RunError(f"{given} and {seen[folder.path]} are the same run")
        seen[folder.path] = given
    configs, results, histories, run_names = [], [], [], []
    for folder in folders:
        config = folder.read_config()
        run_names.append(config.name)
        configs.append(flat_config(config))
        summary = folder.read_summary()
        history = folder.read_history()
        row = _results(summary, history)
        row["status"] = folder.status()
        results.append(row)
        histories.append(history)
    keys = list(dict.fromkeys(k for c in configs for k in c))
    differences = [
        (k, [c.get(k) for c in configs]) for k in keys if len({_text(c, k) for c in configs}) > 1
    ]
    shown = [
        (what, [r[what] for r in results])
        for what in results[0]
        if any(r[what] is not None for r in results)
    ]
    return Compared(
        labels=[label_of(f.path) for f in folders],
        names=run_names,
        paths=[f.path for f in folders],
        differences=differences,
        keys=len(keys),
        results=shown,
        histories=histories,
    )


def plot_comparison(compared, path, names):
    """compared's runs overlaid in one PNG (accuracy and loss per epoch); names[i] labels
    run i. Runs without a per-epoch history (kNN) are left out; RunError if none has one."""
    from nnctl import viz

    runs = [
        (f"{name}: {label}", history)
        for name, label, history in zip(names, compared.labels, compared.histories, strict=True)
        if history
    ]
    if not runs:
        raise RunError("none of these runs has a per-epoch history to plot")
    title = "Compared: " + ", ".join(
        f"{name} ({letter})" for letter, name in zip(names, compared.names, strict=True)
    )
    return viz.plot_compare(runs, path, title=title)
