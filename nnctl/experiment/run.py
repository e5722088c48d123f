"""Run one experiment from a validated config into a run folder.

The lifecycle: validate everything first — the config, the data, the model and optimiser
built from them, a writable runs folder, the run to resume (readable, not locked, the same
config, a checkpoint that fits) — and only then create the folder (or take over the one being
resumed); from there nnctl.experiment.lifecycle decides the status on every exit path.
"""

import logging
import shutil
import time
from pathlib import Path

import numpy as np

from nnctl import signals
from nnctl.config import ExperimentConfig, check_against_data, config_differences, to_yaml
from nnctl.datasets import load_dataset
from nnctl.errors import RunError
from nnctl.experiment.dispatch import RUNNERS
from nnctl.experiment.lifecycle import RunResult, execute
from nnctl.runs import RunFolder, Status, environment, holder, probe_writable, update_latest
from nnctl.runs.lock import in_use_message

log = logging.getLogger(__name__)

__all__ = ["RunResult", "generators", "resolve_paths", "run_experiment"]


def generators(seed):
    """The run's Generators from its seed: one for generating data (synthetic sets), one for
    everything in training (initial weights, shuffling, dropout, augmentation). Independent
    streams, so a sweep that shares loaded data gives the same numbers as a standalone run."""
    data_seq, train_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(data_seq), np.random.default_rng(train_seq)


def resolve_paths(config, base_dir):
    """The config with data.path made absolute (relative to base_dir, the experiment file's
    folder), so the saved config still finds the file from anywhere."""
    if (
        config.data.path
        and base_dir is not None
        and not Path(config.data.path).expanduser().is_absolute()
    ):
        data = config.data.model_copy(
            update={"path": str((Path(base_dir) / config.data.path).resolve())}
        )
        return config.model_copy(update={"data": data})
    return config


def run_experiment(
    config: ExperimentConfig,
    runs_dir="runs",
    *,
    data_dir=None,
    cache_dir=None,
    base_dir=None,
    quiet=False,
    progress=False,
    resume=None,
    run_dir=None,
    splits=None,
    stop_file=None,
    update_link=True,
    pause_at=None,
    threads=None,
    plots=True,
):
    """Load the data, build the model, train it and write the run folder.

    Inputs: config validated; runs_dir where the new run folder goes; data_dir (--data-dir)
    and cache_dir (feature cache); base_dir the folder relative paths in the config are read
    from; quiet: no per-iteration logs; progress: progress bars; resume an existing run folder
    to continue from its checkpoint; run_dir a path for the new folder instead of one in
    runs_dir (sweep trials); splits data already loaded for this config (sweeps); stop_file a
    path whose appearance asks training to stop (sweeps); update_link: point runs/latest here;
    pause_at: stop after this many epochs, paused, to be resumed later (a sweep's scheduler);
    threads: a ThreadSetting (default: auto on every core), recorded in summary.json; plots:
    False leaves a net's per-run plots to be drawn on demand (a sweep's trials).

    Returns RunResult (completed, diverged, interrupted or paused). Raises an NnctlError for
    bad input before anything is written, and after the folder exists as
    nnctl.experiment.lifecycle says; KeyboardInterrupt before the folder exists.
    """
    config = resolve_paths(config, base_dir)
    with signals.terminate_as_interrupt():
        target = _resume_target(resume, config) if resume is not None else None
        if target is None and run_dir is None:
            probe_writable(runs_dir)
        data_rng, rng = generators(config.seed)
        signals.fault_point("start")
        if splits is None:
            splits = load_dataset(
                config.data, data_rng, data_dir=data_dir, cache_dir=cache_dir, progress=progress
            )
        check_against_data(config, splits)
        job = RUNNERS[config.model.type](
            config, splits, rng, verbose=not quiet, progress=progress, stop_file=stop_file,
            pause_at=pause_at, threads=threads, plots=plots,
        )  # fmt: skip
        if target is not None:
            job.restore(target)
        signals.fault_point("loaded")
        folder, lock = _take_folder(target, config, runs_dir, run_dir)
        link = update_link and run_dir is None
        return execute(folder, lock, lambda: _created(job, folder, link))


def _created(job, folder, link):
    """The work of a run whose folder exists (inside the lifecycle, so any way out of it,
    Ctrl-C included, ends in a recorded status)."""
    if link:
        update_latest(folder.path.resolve().parent, folder.path.resolve())
    log.info("run folder %s", folder.path)
    signals.fault_point("created")
    return job.run(folder)


def _resume_target(resume, config):
    """The run folder to resume, checked without changing it: readable, resumable, not in use,
    made by the same config."""
    folder = RunFolder.open(Path(resume).resolve())  # not through a link that may change
    status = folder.status()
    if status is not None and status.finished and status is not Status.FAILED:
        raise RunError(
            f"{folder.path} has already finished (status {status}); there is nothing to resume"
        )
    if holder(folder.path) is not None:
        raise RunError(in_use_message(folder.path))
    if not folder.checkpoint_path.is_file():
        raise RunError(
            f"{folder.path} has no checkpoint.npz to resume from (it stopped in its first epoch)"
        )
    differences = config_differences(folder.read_config().model_dump(), config.model_dump())
    if differences:
        raise RunError(f"the config differs from the run being resumed: {', '.join(differences)}")
    return folder


def _take_folder(target, config, runs_dir, run_dir):
    """(folder, held lock): the resumed folder, or a new one written completely (config and
    a running summary) with Ctrl-C held back, so no folder is ever half made."""
    if target is not None:
        lock = target.lock().acquire()
        with signals.deferred():
            target.update_summary(status=Status.RUNNING, resumed=time.time())
        return target, lock
    env = environment()
    with signals.deferred():
        if run_dir is None:
            folder = RunFolder.create(runs_dir, config.name)
        else:
            folder = RunFolder(run_dir)
            folder.plots.mkdir(parents=True)
        lock = folder.lock().acquire()
        try:
            folder.write_config(to_yaml(config))
            folder.update_summary(
                name=config.name,
                status=Status.RUNNING,
                seed=config.seed,
                model=config.model.type,
                started=time.time(),
                **env,
            )
        except OSError as err:
            lock.release()
            _remove_half_made(folder)
            raise RunError(f"cannot create the run folder {folder.path} ({err.strerror})") from None
    return folder, lock


def _remove_half_made(folder):
    shutil.rmtree(folder.path, ignore_errors=True)
