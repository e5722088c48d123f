"""Sweeps: every trial of a search space run into one sweep folder, in parallel, resumable.

The lifecycle is a run's (nnctl.experiment.run), one level up: the config, every trial's
config, the data, a writable runs folder and the sweep to resume are checked before the sweep
folder exists. Then:

    the sweep ...                                  sweep status   exit code
    ran every trial (whatever each trial's status)  completed      0 (1 if no trial has a result)
    was stopped by Ctrl-C / SIGTERM                 interrupted    130
    stopped at a failed trial (--fail-fast)         failed         1
    raised anything else                            failed         1
    was SIGKILLed                                   running        (`nnctl runs`: stale)

On Ctrl-C no new trial starts, and running trials stop after their current step (they watch
the sweep's stop file, in any worker, local or remote) and end `interrupted` with a
checkpoint; `--resume` continues them exactly. A second Ctrl-C kills the workers at once
(their trials then show as stale, and resume from their last epoch's checkpoint).
"""

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl import console, signals, viz
from nnctl.config import check_against_data, config_differences, to_yaml, validate
from nnctl.datasets import load_dataset
from nnctl.datasets.stored import is_stored, load_splits, save_splits
from nnctl.errors import ConfigError, ExperimentFailed, Interrupted, NnctlError, RunError
from nnctl.experiment import generators, resolve_paths, run_experiment
from nnctl.machine import cpu_count
from nnctl.runs import (
    RunFolder,
    Status,
    SweepFolder,
    environment,
    holder,
    probe_writable,
    update_latest,
)
from nnctl.runs.lock import in_use_message
from nnctl.sweep.executors import make_executor
from nnctl.sweep.extend import copy_trials, find_reusable
from nnctl.sweep.scheduler import TrialQueue, make_plan, training_effort
from nnctl.sweep.space import describe, edge_warnings, expand, show
from nnctl.sweep.tpe import TpePlan, proposed, stand_in, still_to_propose, uses_tpe
from nnctl.sweep.tpe import check as check_tpe
from nnctl.training.threads import AUTO, ThreadSetting

log = logging.getLogger(__name__)
METRIC_FIELD = {"val_acc": "best_val_acc", "train_acc": "train_acc"}
SYNTHETIC = ("spiral", "blobs")
NOT_STARTED = "not started"  # a trial that saw the stop file before it began
RESULT_FIELDS = ["seed", "status", "best_val_acc", "train_acc", "epochs", "seconds", "folder"]
_SHARED = {}  # data locator -> Splits loaded by this process, seen by forked workers too


@dataclass
class SweepResult:
    folder: Path
    rows: list  # one per trial, as in results.csv
    points: list  # one per point: params, metric mean and std, trials, best trial
    best: dict | None
    warnings: list = field(default_factory=list)
    status: Status = Status.COMPLETED
    effort: dict = field(default_factory=dict)  # epochs trained, early rank correlation


def data_key(config):
    """Trials with the same key share one loaded copy of the data. Generated data depends on
    the seed, so for synthetic sets the seed is part of the key."""
    data = config.data.model_dump(mode="json")
    if config.data.dataset in SYNTHETIC:
        data["seed"] = config.seed
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


# -- one trial, in a worker -----------------------------------------------------------------


def run_trial(config_json, path, data_locator, threads, stop_path, pause_at=None):
    """Run one trial in a worker: BLAS threads as `threads` (a ThreadSetting) says, never more
    than its ceiling, the data from memory this process
    shares with the sweep (inline or forked workers) or memory-mapped from data_locator, the
    run folder at path (continued from its checkpoint if it has one), up to epoch pause_at
    (then paused: a scheduler's rung) or to the end. Nothing reaches the console. Returns
    (status, message): a Status value, or NOT_STARTED."""
    from threadpoolctl import threadpool_limits

    stop_path = Path(stop_path)
    if stop_path.exists():
        return NOT_STARTED, None
    path = Path(path)
    config = validate(json.loads(config_json))
    resume = None
    if (path / "checkpoint.npz").is_file() and (path / "config.yaml").is_file():
        resume = path
    elif path.exists():
        shutil.rmtree(path)  # an unfinished trial with nothing to continue from: start it over
    splits = _SHARED.get(data_locator)
    with threadpool_limits(limits=threads.ceiling), console.muted():
        try:
            if splits is None:
                splits = load_splits(data_locator)
            result = run_experiment(
                config,
                run_dir=path,
                splits=splits,
                quiet=True,
                resume=resume,
                stop_file=stop_path,
                update_link=False,
                pause_at=pause_at,
                threads=threads,
                plots=False,  # on demand: nnctl report, nnctl viz-weights
            )
        except NnctlError as err:
            if not (path / "summary.json").is_file():  # refused before its folder was made
                _record_failure(path, config, err)
            return Status.FAILED.value, str(err)
        except KeyboardInterrupt:
            return NOT_STARTED, None
    return result.status.value, None


def _record_failure(path, config, error):
    """A trial refused before its folder existed still gets one, saying why, so results.csv
    and the trial's log.txt show it."""
    folder = RunFolder(path)
    folder.plots.mkdir(parents=True, exist_ok=True)
    folder.write_config(to_yaml(config))
    message = f"{type(error).__name__}: {error}"
    with open(folder.log_path, "a", encoding="utf-8") as f:
        f.write(f"trial refused before it started: {message}\n")
    folder.update_summary(name=config.name, status=Status.FAILED, seed=config.seed, error=message)


# -- the sweep ------------------------------------------------------------------------------


def run_sweep(
    config,
    runs_dir="runs",
    *,
    workers=None,
    executor="local",
    scheduler=None,
    resume=None,
    retry_failed=False,
    fail_fast=False,
    data_dir=None,
    cache_dir=None,
    base_dir=None,
    quiet=False,
    progress=False,
    threads=AUTO,
    extend=None,
):
    """Run (or resume) the sweep of config. Returns SweepResult; raises Interrupted (exit
    130) after Ctrl-C/SIGTERM and ExperimentFailed for --fail-fast.

    workers: parallel trials (default: the number of cores). threads: each trial's BLAS
    threads, a count or auto (the fastest of the counts its share of the cores allows: one
    thread per worker when there are as many workers as cores). executor: 'local'
    (process pool) or 'dask' (scheduler address, or a LocalCluster). resume: an existing
    sweep folder; retry_failed: run its failed trials again. fail_fast: stop at the first
    failure. extend: an earlier sweep folder whose finished trials with the same configs are
    copied into the new sweep instead of run again (nnctl.sweep.extend).
    """
    config = resolve_paths(config, base_dir)
    trials = expand(config)  # tpe: none until its study proposes them (nnctl.sweep.tpe)
    if uses_tpe(config):
        if extend is not None:
            raise ConfigError("--extend reuses grid or random points; tpe proposes its own")
        check_tpe(config)
    workers = workers or cpu_count()
    with signals.terminate_as_interrupt():
        folder = _check_resume(Path(resume), config, trials) if resume is not None else None
        if folder is not None and uses_tpe(config):
            trials = proposed(config, folder)
        reuse = {}
        if folder is None:
            probe_writable(runs_dir)
            reuse = find_reusable(extend, trials) if extend is not None else {}
            pending = [t for t in trials if t.number not in reuse]
        else:
            pending = [t for t in trials if _needs_run(folder, t, retry_failed)]
            if not pending and not uses_tpe(config):  # every trial has finished: nothing to run
                with folder.lock():
                    return finish(folder, trials, config, Status.COMPLETED)
        known = trials or [stand_in(config)]  # a new tpe sweep: the data of the base config
        datasets = _load_data(known, folder, executor, data_dir, cache_dir, progress)
        _check_trials_against_data(pending or known[:1], datasets)
        pool_size = min(workers, max(1, len(pending) + still_to_propose(config, trials)))
        pool = make_executor(executor, pool_size, scheduler)
        threads = ThreadSetting.per_worker(threads, pool_size)
        try:
            folder, lock = _take_folder(folder, runs_dir, config, trials, reuse)
            with lock:
                try:
                    reason = _run(
                        folder, trials, pending, config, pool, datasets, threads,
                        fail_fast, progress, workers,
                    )  # fmt: skip
                finally:
                    pool.shutdown()  # waits for running trials: they stop on the stop file
                    folder.clear_stop()
                return _conclude(folder, trials, config, reason)
        finally:
            pool.shutdown()


def _check_trials_against_data(trials, datasets):
    """Every trial's settings against its loaded data, before the sweep folder exists."""
    problems = []
    for trial in trials:
        splits = datasets.get(data_key(trial.config))
        if splits is None:  # a resumed Dask sweep whose data was checked when it started
            continue
        try:
            check_against_data(trial.config, splits)
        except ConfigError as err:
            described = ", ".join(f"{k}={v}" for k, v in trial.params.items())
            problems += [f"sweep point ({described}): {line}" for line in str(err).splitlines()]
    if problems:
        raise ConfigError("invalid sweep point(s):\n" + "\n".join(dict.fromkeys(problems)))


def _needs_run(folder, trial, retry_failed):
    status = (
        folder.trial(trial.number).status() if folder.trial_path(trial.number).exists() else None
    )
    if status is None:
        return True
    return not status.finished or (retry_failed and status is Status.FAILED)


def _check_resume(path, config, trials):
    """The sweep folder to resume, checked without changing it."""
    folder = SweepFolder.open(path)
    saved_config, saved_trials = folder.read_spec()
    differences = config_differences(saved_config, config.model_dump(mode="json"))
    if differences:
        raise RunError(
            f"the sweep's config has changed since {folder.path} started, so it cannot resume: "
            + "; ".join(differences)
        )
    # A tpe sweep's listing is rebuilt from its study, which holds the proposals.
    if not uses_tpe(config) and [t["id"] for t in saved_trials] != [t.id for t in trials]:
        raise RunError(
            f"the trials of {folder.path} differ from this config's trials; start a new sweep"
        )
    if holder(folder.path) is not None:
        raise RunError(in_use_message(folder.path))
    for trial in trials:  # damaged trial files are found now, not halfway through
        if folder.trial_path(trial.number).exists():
            folder.trial(trial.number).read_summary()
    return folder


def _take_folder(folder, runs_dir, config, trials, reuse=None):
    """(folder, held lock): the resumed sweep folder, or a new one written completely (with
    the trials reused from another sweep copied in)."""
    if folder is not None:
        lock = folder.lock().acquire()
        with signals.deferred():
            folder.clear_stop()
            folder.update_summary(status=Status.RUNNING, resumed=time.time())
        return folder, lock
    env = environment()
    with signals.deferred():
        folder = SweepFolder.create(runs_dir, config.name)
        lock = folder.lock().acquire()
        try:
            folder.write_spec(config.model_dump(mode="json"), to_yaml(config), trials)
            folder.update_summary(
                name=config.name,
                kind="sweep",
                status=Status.RUNNING,
                trials=len(trials),
                started=time.time(),
                **env,
            )
            if reuse:
                copy_trials(folder, reuse)
                log.info("reused %d finished trials of another sweep", len(reuse))
        except OSError as err:
            lock.release()
            shutil.rmtree(folder.path, ignore_errors=True)
            raise RunError(
                f"cannot create the sweep folder {folder.path} ({err.strerror})"
            ) from None
    update_latest(folder.path.parent, folder.path)
    return folder, lock


def _run(folder, trials, pending, config, pool, datasets, threads, fail_fast, progress, workers):
    """Run the pending trials on pool, keeping results.csv current. Returns why the sweep
    stopped early ("interrupted", or a failed trial with --fail-fast), or None."""
    from tqdm import tqdm

    log.info(
        "sweep %s: %d trials, %d to run, %d workers",
        folder.path,
        len(trials),
        len(pending),
        workers,
    )
    locators = _share_data(datasets, folder, pool)

    def job(t, pause_at):
        config_json = json.dumps(t.config.model_dump(mode="json"))
        path, locator = str(folder.trial_path(t.number)), locators[data_key(t.config)]
        by_path[path] = t  # tpe trials are proposed while the sweep runs
        return config_json, path, locator, threads, str(folder.stop_path), pause_at

    if uses_tpe(config):
        plan = TpePlan(
            config, folder, trials, pool.workers, lambda t: _trial_metric(folder, t, config)
        )
    else:
        plan = make_plan(config, folder, trials)
    queue = TrialQueue(job)
    plan.fill(queue, pending)
    by_path = {str(folder.trial_path(t.number)): t for t in trials}
    counts = {}
    stop = {"reason": None}

    def request_stop(reason="interrupted"):
        if stop["reason"] is None:
            stop["reason"] = reason
            folder.request_stop()
            pool.cancel_pending()

    bar = tqdm(
        total=len(trials), initial=len(trials) - len(pending), unit="trial", disable=not progress,
        desc="sweep",
    )  # fmt: skip
    started = time.time()
    try:
        with signals.graceful(request_stop):
            for done, outcome in pool.run(run_trial, queue):
                trial = by_path[done[1]]
                status, message = _outcome(folder, trial, outcome, stop["reason"] is not None)
                if status == NOT_STARTED:
                    continue
                if status == Status.PAUSED.value:  # at a rung: promoted (and queued) or stopped
                    signals.fault_point("rung")
                    status, message = plan.decide(trial, queue)
                rows = collect_rows(folder, trials, config)
                write_results(folder, rows, config)
                _report(trial, status, message, folder, config, rows)
                if status == Status.PAUSED.value:  # promoted: it goes on
                    continue
                plan.finished(trial, queue, propose=stop["reason"] is None)
                counts[status] = counts.get(status, 0) + 1
                bar.update()
                signals.fault_point("trial")
                bar.set_postfix({k: v for k, v in counts.items() if k != "completed"})
                if status == Status.INTERRUPTED.value:
                    request_stop()
                elif status == Status.FAILED.value and fail_fast:
                    request_stop(f"trial {trial.number} failed (--fail-fast)")
    except KeyboardInterrupt:  # a second Ctrl-C: stop now
        pool.shutdown(kill=True)
        stop["reason"] = stop["reason"] or "interrupted"
    finally:
        bar.close()
        _add_seconds(folder, time.time() - started)
    return stop["reason"]


def _conclude(folder, trials, config, reason):
    """finish() with the sweep's status; Interrupted or ExperimentFailed if it was stopped."""
    if reason is None:
        return finish(folder, trials, config, Status.COMPLETED)
    status = Status.INTERRUPTED if reason == "interrupted" else Status.FAILED
    finish(folder, trials, config, status)
    if status is Status.INTERRUPTED:
        raise Interrupted(f"sweep interrupted; resume with  nnctl sweep --resume {folder.path}")
    raise ExperimentFailed(f"{reason}: see {folder.trial_path(int(reason.split()[1]))}/log.txt")


def _outcome(folder, trial, outcome, stopping):
    """(status, message) of a finished job. A job that raised (a trial whose worker kept
    dying: WorkerDied, or Dask's KilledWorker) left its trial saying running: it is recorded
    failed, unless the sweep was being stopped."""
    if not isinstance(outcome, BaseException):
        return outcome
    if stopping:
        return NOT_STARTED, None
    path = folder.trial_path(trial.number)
    message = f"{type(outcome).__name__}: {outcome}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        RunFolder(path).update_summary(status=Status.FAILED, error=message)
    except (OSError, NnctlError):
        pass
    return Status.FAILED.value, message


def _trial_metric(folder, trial, config):
    """A trial's metric as results.csv has it; None without one (or not completed)."""
    row = collect_rows(folder, [trial], config)[0]
    return _metric(row, config)


def _report(trial, status, message, folder, config, rows):
    """One console line per finished trial."""
    row = next(r for r in rows if r["trial"] == trial.number)
    metric = row.get(METRIC_FIELD[config.sweep.metric])
    params = describe(trial.params)
    value = "-" if metric is None else f"{metric:.4f}"
    if status == Status.PAUSED.value:
        status = "promoted"
    line = f"[trial {trial.number:03d}] {status:<11} {config.sweep.metric} {value}  {params}"
    if message and status in (Status.FAILED.value, Status.STOPPED.value, "promoted"):
        line += f"  ({message.splitlines()[0]})"
    log.info(line)


def _add_seconds(folder, seconds):
    try:
        summary = folder.read_summary()
        folder.update_summary(seconds=(summary.get("seconds") or 0) + seconds)
    except (OSError, NnctlError):
        pass


def _load_data(trials, folder, executor, data_dir, cache_dir, progress):
    """Load each distinct dataset of the trials once: {key: Splits or None}. A resumed Dask
    sweep's workers read the copy already stored in its folder, so that is not loaded."""
    configs = {}
    for trial in trials:
        configs.setdefault(data_key(trial.config), trial.config)
    loaded = {}
    for key, trial_config in configs.items():
        stored = folder is not None and is_stored(folder.data_path(key))
        if executor == "local" or not stored:
            loaded[key] = load_dataset(
                trial_config.data,
                generators(trial_config.seed)[0],
                data_dir=data_dir,
                cache_dir=cache_dir,
                progress=progress,
            )
    return {key: loaded.get(key) for key in configs}


def _share_data(datasets, folder, pool):
    """Make each dataset reachable by the workers under folder/data/<key>: in this process's
    memory for workers that share it (inline, or forked), else as .npy files they memory-map.
    Returns {key: locator}."""
    locators = {}
    for key, splits in datasets.items():
        locator = str(folder.data_path(key))
        if splits is not None:
            if pool.shares_memory:
                _SHARED[locator] = splits
            else:
                save_splits(splits, locator)
        locators[key] = locator
    return locators


# -- results ----------------------------------------------------------------------------------


def collect_rows(folder, trials, config):
    """One row per trial from the trial folders (the source of truth). A trial that has not
    run has no status (empty, not a marker)."""
    rows = []
    for trial in trials:
        path = folder.trial_path(trial.number)
        summary = folder.trial_summary(trial.number) if path.exists() else {}
        status = folder.trial(trial.number).status() if summary else None
        rows.append(
            {
                "trial": trial.number,
                "id": trial.id,
                **{key: _cell(value) for key, value in trial.params.items()},
                "seed": trial.config.seed,
                "status": None if status is None else status.value,
                "best_val_acc": summary.get("best_val_acc"),
                "train_acc": summary.get("train_acc"),
                "epochs": summary.get("epochs"),
                "seconds": summary.get("seconds"),
                "folder": str(path.relative_to(folder.path)),
                "_params": trial.params,
            }
        )
    return rows


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def write_results(folder, rows, config):
    folder.write_results(rows, ["trial", "id", *config.sweep.params, *RESULT_FIELDS])


def write_points(folder, points, config):
    """points.csv: per point its params, the metric's mean and std over the trials that
    completed (n of them), its trials and their statuses, and its best trial; best first."""
    metric = config.sweep.metric
    rows = [
        {
            **{key: _cell(value) for key, value in point["params"].items()},
            f"{metric}_mean": point["metric"],
            f"{metric}_std": point["std"],
            "n": point["n"],
            "trials": " ".join(map(str, point["trials"])),
            "statuses": " ".join(point["statuses"]),
            "best_trial": point["best_trial"]["trial"] if point["metric"] is not None else None,
        }
        for point in points
    ]
    columns = [*config.sweep.params, f"{metric}_mean", f"{metric}_std", "n", "trials"]
    folder.write_points(rows, [*columns, "statuses", "best_trial"])


def _metric(row, config):
    value = row.get(METRIC_FIELD[config.sweep.metric])
    return None if value is None or row["status"] != "completed" else float(value)


def summarise(rows, config):
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
                "n": len(values),
                "trials": [r["trial"] for r in members],
                "statuses": sorted({r["status"] or "not run" for r in members}),
                "best_trial": best_row,
                "rows": members,
            }
        )
    points.sort(key=lambda p: -math.inf if p["metric"] is None else p["metric"], reverse=True)
    best = points[0] if points and points[0]["metric"] is not None else None
    return points, best


def finish(folder, trials, config, status):
    """Results table, best link, plots, warnings and the sweep's final status."""
    rows = collect_rows(folder, trials, config)
    write_results(folder, rows, config)
    points, best = summarise(rows, config)
    write_points(folder, points, config)
    finals = {r["trial"]: _metric(r, config) for r in rows if _metric(r, config) is not None}
    effort = training_effort(folder, trials, config, finals, status is Status.COMPLETED)
    warnings = []
    fields = {}
    if best is not None:
        folder.link_best(best["best_trial"]["trial"])
        warnings = edge_warnings(config, trials, best["params"])
        for warning in warnings:
            log.warning("warning: %s", warning)
        fields = {"best_trial": best["best_trial"]["trial"], "best_val_acc": best["metric"]}
    if any(row["status"] for row in rows):  # trials without a result show in the plots too
        _plot(folder, points, config)
    counts = {}
    for row in rows:
        counts[row["status"] or "not run"] = counts.get(row["status"] or "not run", 0) + 1
    with signals.deferred():
        folder.update_summary(
            status=status, counts=counts, warnings=warnings, finished=time.time(), **fields,
            **effort,
        )  # fmt: skip
    return SweepResult(folder.path, rows, points, best, warnings, status, effort)


def _plot(folder, points, config):
    """The metric against the swept parameters (points whose trials all diverged, failed or
    were stopped are marked with that status), and the top trials' accuracy curves."""
    keys = list(config.sweep.params)
    shown = [p for p in points if p["statuses"] != ["not run"]]
    scored = [p for p in shown if p["metric"] is not None]
    label = config.sweep.metric.replace("_", " ")
    scalar = all(not isinstance(p["params"][k], (list, dict)) for p in shown for k in keys)
    heatmap = config.sweep.method == "grid" and len(keys) == 2 and scalar
    plot = viz.plot_sweep_heatmap if heatmap else viz.plot_sweep_scatter
    name = "heatmap.png" if heatmap else "scatter.png"
    title = f"{label} {'over the grid' if heatmap else 'against each parameter'} ({config.name})"
    statuses = [
        None if p["metric"] is not None else ", ".join(s for s in p["statuses"] if s != "not run")
        for p in shown
    ]
    params = [p["params"] for p in shown]
    metrics = [p["metric"] for p in shown]
    plot(keys, params, metrics, folder.plots / name, label, statuses=statuses, title=title)
    curves = [curve for point in scored[:5] if (curve := _point_curve(folder, point))]
    if curves:
        viz.plot_top_curves(
            curves, folder.plots / "top_trials.png", title=f"Top trials of {config.name}"
        )


def _point_curve(folder, point):
    """(label, train_acc, val_acc, val_std) per epoch of a point: the means over its completed
    trials (its repeats) up to the epoch all of them reached, val_std their std (None for
    one trial); None when no history is left."""
    histories = [
        folder.trial(row["trial"]).read_history()
        for row in point["rows"]
        if row["status"] == Status.COMPLETED.value
    ]
    histories = [h for h in histories if h]
    if not histories:
        return None
    epochs = min(len(h) for h in histories)

    def column(key):
        return np.array(
            [[np.nan if r[key] is None else r[key] for r in h[:epochs]] for h in histories]
        )

    train, val = column("train_acc"), column("val_acc")
    label = ", ".join(f"{k.rpartition('.')[2]}={show(v)}" for k, v in point["params"].items())
    std = None
    if len(histories) > 1:
        label, std = f"{label}, {len(histories)} seeds", list(val.std(axis=0))
    return label, list(train.mean(axis=0)), list(val.mean(axis=0)), std


def find_sweep(runs_dir, name):
    """The newest sweep folder of the experiment `name` in runs_dir (for a bare --resume)."""
    candidates = sorted(
        (p for p in Path(runs_dir).glob(f"*_{name}-sweep*") if SweepFolder.is_sweep(p)),
        key=lambda p: p.stat().st_mtime,
    )
    if not candidates:
        raise RunError(f"no sweep folder of {name} in {runs_dir} to resume")
    return candidates[-1]
