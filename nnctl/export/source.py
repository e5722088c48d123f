"""A run or sweep folder as the exporters see it: read completely and checked before any
exporter writes a byte (a damaged file is a RunError naming it, as everywhere in nnctl).

What is exported, and under which names (TensorBoard tags and MLflow metric keys alike):

    step/loss             metrics.jsonl, one value per update        step = the update's number
    epoch/<column>        history.csv, every column: loss (mean     step = the epoch (1-based)
                          over the epoch), train_acc, val_acc, lr,
                          seconds (an autoencoder: train_error, ...)
    knn/mean_acc          a kNN run's cross-validation, per k        step = k
    <final>               summary.json's results: best_val_acc,      step = the epochs trained
                          train_acc, val_acc, test_acc (after eval),
                          ... and epochs

Wall times come from each metrics.jsonl record's "time"; a folder written before records had
one gets its run's start time for all of them.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from nnctl.errors import RunError
from nnctl.runs import RunFolder, SweepFolder
from nnctl.training.live import STEP_LOSS, epoch_tag

KNN_MEAN_ACC = "knn/mean_acc"
# summary.json's results: these prefixes (best_val_acc, test_acc, val_error, ...) and epochs.
FINAL_PREFIXES = ("best_val_", "train_", "val_", "test_")
ARTIFACT_FILES = ("config.yaml", "summary.json", "history.csv", "eval.json", "model.npz")
SWEEP_ARTIFACT_FILES = ("config.yaml", "sweep.yaml", "summary.json", "results.csv")


@dataclass
class Scalar:
    tag: str
    step: int
    value: float
    time: float  # seconds since 1970


@dataclass
class ExportedRun:
    """One run folder (a run of its own, or a sweep's trial)."""

    path: Path
    run_id: str  # nnctl's id: the folder's name; a trial's is <sweep folder>/trials/<NNN>
    name: str  # what the tools show: the folder's name, or "trial NNN"
    kind: str  # "run" or "trial"
    config_text: str  # config.yaml as written
    params: dict  # the resolved config flattened to dotted keys (see flatten)
    summary: dict
    status: str | None  # a Status value, "stale" for a killed run; None before it has one
    scalars: list  # Scalar, per step then per epoch
    final: dict  # name -> number, from the summary
    swept: dict = field(default_factory=dict)  # a trial's swept values
    weights_png: Path | None = None  # plots/weights.png, the first layer's picture
    artifacts: list = field(default_factory=list)  # files worth attaching (plots included)
    started: float | None = None  # seconds since 1970
    finished: float | None = None


@dataclass
class ExportedSweep:
    """A sweep folder: its own files and every trial that has a folder."""

    path: Path
    run_id: str
    name: str
    config_text: str
    params: dict
    summary: dict
    status: str | None
    final: dict
    trials: list  # ExportedRun, in trial order
    swept_keys: list  # the dotted keys the sweep varies
    scalars: list = field(default_factory=list)  # none of its own: its trials have them
    artifacts: list = field(default_factory=list)
    started: float | None = None
    finished: float | None = None


def read_source(path):
    """(sweep, runs) for a run folder (sweep None, runs [the run]) or a sweep folder (runs its
    trials that have a folder). RunError when path is neither or a file in it is damaged."""
    path = Path(path).resolve()  # runs/latest names the folder it points at
    if SweepFolder.is_sweep(path):
        sweep = read_sweep(path)
        return sweep, sweep.trials
    return None, [read_run(RunFolder.open(path))]


def flatten(mapping, prefix=""):
    """{"train": {"learning_rate": 1e-3}} -> {"train.learning_rate": 1e-3}: numbers, strings,
    booleans and None stay as they are, lists become their JSON text."""
    flat = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            flat[f"{prefix}{key}"] = json.dumps(value)
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_run(folder, run_id=None, name=None, kind="run", swept=None):
    """An ExportedRun from an open RunFolder."""
    config = folder.read_config()
    summary = folder.read_summary()
    status = folder.status()
    started = _number(summary.get("started"))
    fallback = started if started is not None else folder.summary_path.stat().st_mtime
    return ExportedRun(
        path=folder.path,
        run_id=run_id or folder.path.name,
        name=name or folder.path.name,
        kind=kind,
        config_text=_read_text(folder.config_path),
        params=flatten(config.model_dump(mode="json", exclude={"sweep"})),
        summary=summary,
        status=None if status is None else status.value,
        scalars=_scalars(folder, summary, fallback),
        final=_final(summary),
        swept=dict(swept or {}),
        weights_png=_file_or_none(folder.plots / "weights.png"),
        artifacts=_artifacts(folder.path, ARTIFACT_FILES),
        started=started,
        finished=_number(summary.get("finished")),
    )


def read_sweep(path):
    folder = SweepFolder.open(path)
    config, listing = folder.read_spec()
    summary = folder.read_summary()
    status = folder.status()
    trials = []
    for entry in listing:
        number = entry.get("number")
        if not isinstance(number, int) or not folder.trial(number).config_path.is_file():
            continue  # not run yet (or lost before it began: its folder holds just a summary)
        trials.append(
            read_run(
                RunFolder.open(folder.trial_path(number)),
                run_id=f"{folder.path.name}/trials/{number:03d}",
                name=f"trial {number:03d}",
                kind="trial",
                swept=entry.get("params") or {},
            )
        )
    sweep_block = config.get("sweep") or {}
    return ExportedSweep(
        path=folder.path,
        run_id=folder.path.name,
        name=folder.path.name,
        config_text=_read_text(folder.config_path),
        params=flatten(config),
        summary=summary,
        status=None if status is None else status.value,
        final=_final(summary),
        trials=trials,
        swept_keys=list(sweep_block.get("params") or {}),
        artifacts=_artifacts(folder.path, SWEEP_ARTIFACT_FILES),
        started=_number(summary.get("started")),
        finished=_number(summary.get("finished")),
    )


def _scalars(folder, summary, fallback):
    """Every exported scalar of a run folder (see the module's table)."""
    records = folder.read_metrics()
    scalars = []
    epoch_times = {}
    for record in records:
        when = _number(record.get("time"))
        when = fallback if when is None else when
        if "k" in record:  # a kNN run's cross-validation or final record
            if _number(record.get("mean_acc")) is not None:
                scalars.append(Scalar(KNN_MEAN_ACC, int(record["k"]), record["mean_acc"], when))
        elif "train_acc" in record:  # an epoch's record: its time marks the epoch
            epoch_times[int(record["epoch"])] = when
        elif _number(record.get("loss")) is not None and "step" in record:
            scalars.append(Scalar(STEP_LOSS, int(record["step"]), record["loss"], when))
    for row in folder.read_history():
        epoch = int(row["epoch"])
        for name in row:
            if name != "epoch" and row[name] is not None:
                scalars.append(
                    Scalar(epoch_tag(name), epoch, row[name], epoch_times.get(epoch, fallback))
                )
    return scalars


def _final(summary):
    return {
        k: v
        for k, v in summary.items()
        if (k.startswith(FINAL_PREFIXES) or k == "epochs") and _number(v) is not None
    }


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _read_text(path):
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"{path} cannot be read ({err})") from None


def _file_or_none(path):
    return path if path.is_file() else None


def _artifacts(path, names):
    files = [path / name for name in names if (path / name).is_file()]
    plots = path / "plots"
    if plots.is_dir():
        files += sorted(p for p in plots.iterdir() if p.is_file() and p.suffix == ".png")
    return files
