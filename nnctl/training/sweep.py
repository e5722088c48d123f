"""Sweeps: every trial of a search space run into one sweep folder, in parallel, resumable.

    runs/<timestamp>_<name>-sweep/
      sweep.yaml     the resolved config with its sweep block, and the list of trials
      data/<key>/    the loaded, preprocessed data, memory-mapped by every worker
      trials/NNN/    one complete run folder per trial
      results.csv    one row per trial, rewritten atomically after each trial finishes
      best ->        the best trial's folder
      plots/         metric against the swept parameters, top trials' accuracy curves

A trial is finished when its folder says completed, diverged or failed; resuming a sweep
runs only the others, continuing any that left a checkpoint.
"""

import csv
import hashlib
import io
import json
import logging
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from nnctl import atomic, viz
from nnctl.config import config_differences, to_yaml, validate
from nnctl.datasets import load_dataset
from nnctl.datasets.stored import is_stored, load_splits, save_splits
from nnctl.errors import ExperimentFailed, Interrupted, NnctlError, RunError
from nnctl.machine import cpu_count
from nnctl.runs import RunFolder, create_run_dir
from nnctl.training.executors import make_executor
from nnctl.training.search import edge_warnings, expand

log = logging.getLogger(__name__)
SWEEP_FILE = "sweep.yaml"
FINISHED = ("completed", "diverged", "failed")
METRIC_FIELD = {"val_acc": "best_val_acc", "train_acc": "train_acc"}
SYNTHETIC = ("spiral", "blobs")
_SHARED = {}  # data locator -> Splits loaded by this process, seen by forked workers too


@dataclass
class SweepResult:
    folder: Path
    rows: list  # one per trial, as in results.csv
    points: list  # one per point: params, metric mean and std, trials, best trial
    best: dict | None
    warnings: list = field(default_factory=list)


def data_key(config):
    """Trials with the same key share one loaded copy of the data. Generated data depends on
    the seed, so for synthetic sets the seed is part of the key."""
    data = config.data.model_dump(mode="json")
    if config.data.dataset in SYNTHETIC:
        data["seed"] = config.seed
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def trial_dir(folder, trial):
    return Path(folder) / "trials" / f"{trial.number:03d}"


def _trial_summary(path):
    """A trial folder's summary.json ({} before the trial has written one)."""
    try:
        return RunFolder(path).read_summary()
    except RunError:  # unreadable: treated as not run yet, so the trial runs again
        return {}


def _trial_status(path):
    return _trial_summary(path).get("status")


def run_trial(config_json, path, data_folder, threads):
    """Run one trial in a worker: BLAS pinned to `threads`, the data from memory this process
    shares with the sweep (inline or forked workers) or memory-mapped from data_folder, the
    run folder at path (continued from its checkpoint if it has one). Returns the status."""
    from threadpoolctl import threadpool_limits

    from nnctl.experiment import run_experiment

    path = Path(path)
    config = validate(json.loads(config_json))
    resume = None
    if (path / "checkpoint.npz").is_file() and (path / "config.yaml").is_file():
        resume = path
    elif path.exists():
        shutil.rmtree(path)  # an unfinished trial with nothing to continue from: start it over
    splits = _SHARED.get(data_folder)
    if splits is None:
        splits = load_splits(data_folder)
    with threadpool_limits(limits=threads):
        try:
            result = run_experiment(config, run_dir=path, splits=splits, quiet=True, resume=resume)
        except NnctlError:
            return "failed"  # run_experiment recorded status and traceback in the folder
    return result.status


def run_sweep(
    config,
    runs_dir="runs",
    *,
    workers=None,
    executor="local",
    scheduler=None,
    resume=None,
    fail_fast=False,
    data_dir=None,
    cache_dir=None,
    base_dir=None,
    quiet=False,
    blas_threads=1,
):
    """Run (or resume) the sweep of config. Returns SweepResult.

    workers: parallel trials (default: the number of cores), each with its BLAS pinned to
    blas_threads threads (1: N workers on N cores never oversubscribe them; running trials
    side by side beats threading the small matrix products of one trial). executor: 'local'
    (process pool) or 'dask' (scheduler address, or a LocalCluster). resume: an existing
    sweep folder. fail_fast: stop at the first failure.
    """
    from nnctl.experiment import resolve_paths

    config = resolve_paths(config, base_dir)
    trials = expand(config)
    workers = workers or cpu_count()
    folder = _check_resume(Path(resume), config, trials) if resume is not None else None
    pending = (
        trials
        if folder is None
        else [t for t in trials if _trial_status(trial_dir(folder, t)) not in FINISHED]
    )
    if folder is not None and not pending:
        return finish(folder, trials, config)  # every trial has finished: nothing to load or run
    pool = make_executor(executor, min(workers, max(1, len(pending))), scheduler)
    locators = {}
    try:
        # The data loads before a new folder is made, so data that fails leaves nothing behind.
        datasets = _load_data(trials, folder, pool, data_dir, cache_dir, quiet)
        folder = folder if folder is not None else _create_folder(runs_dir, config, trials)
        locators = _share_data(datasets, folder, pool)
        return _run_pending(
            folder, trials, pending, config, pool, locators, blas_threads, fail_fast, quiet, workers
        )
    finally:
        pool.shutdown()
        for locator in locators.values():
            _SHARED.pop(locator, None)


def _run_pending(
    folder, trials, pending, config, pool, locators, threads, fail_fast, quiet, workers
):
    """Run the pending trials on pool, keeping results.csv current; then finish()."""
    log.info(
        "sweep %s: %d trials, %d to run, %d workers", folder, len(trials), len(pending), workers
    )
    jobs = [
        (
            json.dumps(t.config.model_dump(mode="json")),
            str(trial_dir(folder, t)),
            locators[data_key(t.config)],
            threads,
        )
        for t in pending
    ]
    by_path = {str(trial_dir(folder, t)): t for t in trials}
    from tqdm import tqdm

    bar = tqdm(
        total=len(trials),
        initial=len(trials) - len(pending),
        unit="trial",
        disable=quiet,
        desc="sweep",
    )
    failures = 0
    try:
        for job, outcome in pool.run(run_trial, jobs):
            trial = by_path[job[1]]
            if isinstance(outcome, BaseException):
                _record_crash(trial_dir(folder, trial), outcome)
                outcome = "failed"
            failures += outcome == "failed"
            rows = collect_rows(folder, trials, config)
            write_results(folder, rows, config)
            best = _summarise(rows, config)[1]
            bar.update()
            bar.set_postfix(failed=failures, best=f"{best['metric']:.4f}" if best else "-")
            if outcome == "failed" and fail_fast:
                pool.shutdown(cancel=True)
                where = trial_dir(folder, trial)
                raise ExperimentFailed(
                    f"trial {trial.number} failed (--fail-fast): see {where}/log.txt"
                )
    except KeyboardInterrupt:
        pool.shutdown(cancel=True)
        write_results(folder, collect_rows(folder, trials, config), config)
        raise Interrupted(
            f"sweep interrupted; resume with  nnctl sweep --resume {folder}"
        ) from None
    finally:
        bar.close()
    return finish(folder, trials, config)


def _check_resume(folder, config, trials):
    path = folder / SWEEP_FILE
    if not path.is_file():
        raise RunError(f"{folder} is not a sweep folder (no {SWEEP_FILE})")
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    differences = config_differences(saved["config"], config.model_dump(mode="json"))
    if differences:
        raise RunError(
            f"the sweep's config has changed since {folder} started, so it cannot resume: "
            + "; ".join(differences)
        )
    if [t["id"] for t in saved["trials"]] != [t.id for t in trials]:
        raise RunError(
            f"the trials of {folder} differ from this config's trials; start a new sweep"
        )
    return folder


def _load_data(trials, folder, pool, data_dir, cache_dir, quiet):
    """Load each distinct dataset of the trials once: {key: Splits}. Skipped for a resumed
    sweep whose workers read the copy already stored in its folder."""
    from nnctl.experiment import generators

    configs = {}
    for trial in trials:
        configs.setdefault(data_key(trial.config), trial.config)
    loaded = {}
    for key, trial_config in configs.items():
        stored = folder is not None and is_stored(Path(folder) / "data" / key)
        if pool.shares_memory or not stored:
            loaded[key] = load_dataset(
                trial_config.data,
                generators(trial_config.seed)[0],
                data_dir=data_dir,
                cache_dir=cache_dir,
                progress=not quiet,
            )
    return {key: loaded.get(key) for key in configs}


def _share_data(datasets, folder, pool):
    """Make each dataset reachable by the workers under folder/data/<key>: in this process's
    memory for workers that share it (inline, or forked), else as .npy files they memory-map.
    Returns {key: locator}."""
    locators = {}
    for key, splits in datasets.items():
        locator = str(Path(folder) / "data" / key)
        if splits is not None:
            if pool.shares_memory:
                _SHARED[locator] = splits
            else:
                save_splits(splits, locator)
        locators[key] = locator
    return locators


def _create_folder(runs_dir, config, trials):
    folder = create_run_dir(runs_dir, f"{config.name}-sweep")
    (folder / "trials").mkdir()
    listing = [
        {"number": t.number, "id": t.id, "params": t.params, "seed": t.config.seed} for t in trials
    ]
    text = yaml.safe_dump(
        {"config": config.model_dump(mode="json"), "trials": listing}, sort_keys=False
    )
    atomic.write_text(folder / SWEEP_FILE, text)
    atomic.write_text(folder / "config.yaml", to_yaml(config))
    return folder


def _record_crash(path, error):
    """A worker died without recording anything (killed, out of memory): mark it failed."""
    path.mkdir(parents=True, exist_ok=True)
    RunFolder(path).update_summary(status="failed", error=f"{type(error).__name__}: {error}")


def collect_rows(folder, trials, config):
    """One row per trial from the trial folders (the source of truth)."""
    rows = []
    for trial in trials:
        path = trial_dir(folder, trial)
        summary = _trial_summary(path)
        rows.append(
            {
                "trial": trial.number,
                "id": trial.id,
                **{key: _cell(value) for key, value in trial.params.items()},
                "seed": trial.config.seed,
                "status": summary.get("status", "pending"),
                "best_val_acc": summary.get("best_val_acc"),
                "train_acc": summary.get("train_acc"),
                "epochs": summary.get("epochs"),
                "seconds": summary.get("seconds"),
                "folder": str(path.relative_to(folder)),
                "_params": trial.params,
            }
        )
    return rows


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_results(folder, rows, config):
    columns = [
        "trial",
        "id",
        *config.sweep.params,
        "seed",
        "status",
        "best_val_acc",
        "train_acc",
        "epochs",
        "seconds",
        "folder",
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(Path(folder) / "results.csv", buffer.getvalue())


def _metric(row, config):
    value = row.get(METRIC_FIELD[config.sweep.metric])
    return None if value is None or row["status"] != "completed" else float(value)


def _summarise(rows, config):
    """(points, best): per point the mean and std of the metric over its repeats, best first;
    best is the best point's dict (None if no trial has a metric)."""
    groups = {}
    for row in rows:
        groups.setdefault(json.dumps(row["_params"], sort_keys=True), []).append(row)
    points = []
    for members in groups.values():
        metrics = [_metric(r, config) for r in members]
        values = [m for m in metrics if m is not None]
        scores = [-math.inf if m is None else m for m in metrics]
        best_row = members[scores.index(max(scores))]
        points.append(
            {
                "params": members[0]["_params"],
                "metric": float(np.mean(values)) if values else None,
                "std": float(np.std(values)) if values else None,
                "trials": [r["trial"] for r in members],
                "statuses": sorted({r["status"] for r in members}),
                "best_trial": best_row,
            }
        )
    points.sort(key=lambda p: -math.inf if p["metric"] is None else p["metric"], reverse=True)
    best = points[0] if points and points[0]["metric"] is not None else None
    return points, best


def finish(folder, trials, config):
    """Results table, best link, plots and warnings once every trial has run."""
    rows = collect_rows(folder, trials, config)
    write_results(folder, rows, config)
    points, best = _summarise(rows, config)
    warnings = []
    if best is not None:
        _link_best(folder, best["best_trial"]["folder"])
        warnings = edge_warnings(config, trials, best["params"])
        for warning in warnings:
            log.warning("warning: %s", warning)
        _plot(folder, rows, points, config)
    return SweepResult(Path(folder), rows, points, best, warnings)


def _link_best(folder, target):
    link = Path(folder) / "best"
    tmp = Path(folder) / f".best.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)


def _plot(folder, rows, points, config):
    plots = Path(folder) / "plots"
    keys = list(config.sweep.params)
    scored = [p for p in points if p["metric"] is not None]
    label = config.sweep.metric.replace("_", " ")
    scalar = all(not isinstance(p["params"][k], (list, dict)) for p in scored for k in keys)
    heatmap = config.sweep.method == "grid" and len(keys) == 2 and scalar
    plot = viz.plot_sweep_heatmap if heatmap else viz.plot_sweep_scatter
    name = "heatmap.png" if heatmap else "scatter.png"
    plot(keys, [p["params"] for p in scored], [p["metric"] for p in scored], plots / name, label)
    curves = []
    for point in scored[:5]:
        history = Path(folder) / point["best_trial"]["folder"] / "history.csv"
        if history.is_file():
            with open(history, encoding="utf-8") as f:
                records = list(csv.DictReader(f))
            name = ", ".join(f"{k.rpartition('.')[2]}={v}" for k, v in point["params"].items())
            curves.append(
                (
                    name,
                    [float(r["train_acc"]) for r in records],
                    [float(r["val_acc"]) for r in records],
                )
            )
    if curves:
        viz.plot_top_curves(curves, plots / "top_trials.png")


def find_sweep(runs_dir, name):
    """The newest sweep folder of the experiment `name` in runs_dir (for a bare --resume)."""
    candidates = sorted(
        (p for p in Path(runs_dir).glob(f"*_{name}-sweep*") if (p / SWEEP_FILE).is_file()),
        key=lambda p: p.stat().st_mtime,
    )
    if not candidates:
        raise RunError(f"no sweep folder of {name} in {runs_dir} to resume")
    return candidates[-1]
