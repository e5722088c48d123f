"""The local process pool survives a worker that dies (killed, out of memory): Python's pool
breaks and takes every running job with it, so nnctl starts a new pool and runs those jobs
again; a job in MAX_DEATHS breakdowns is reported failed and the others go on."""

import collections
import json
import os
import signal
import time
from pathlib import Path

import pytest

from nnctl.sweep.executors import MAX_DEATHS, LocalExecutor, WorkerDied


def die_once(marker, seconds):
    """Kill this worker the first time (marker absent), then succeed."""
    marker = Path(marker)
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(0.2)  # the other job is running by now
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(seconds)
    return "done", os.getpid()


def always_die(count_file):
    with open(count_file, "a") as f:
        f.write("x")
    os.kill(os.getpid(), signal.SIGKILL)


def nap(seconds):
    time.sleep(seconds)
    return "done", os.getpid()


def call(kind, *args):
    return {"die_once": die_once, "always_die": always_die, "nap": nap}[kind](*args)


def run_all(jobs, workers=2):
    executor = LocalExecutor(workers)
    try:
        return list(executor.run(call, collections.deque(jobs)))
    finally:
        executor.shutdown()


def test_the_jobs_of_a_pool_whose_worker_died_run_again_and_succeed(tmp_path):
    marker = tmp_path / "died"
    results = dict(run_all([("die_once", str(marker), 0.1), ("nap", 0.5), ("nap", 0.1)]))
    assert marker.exists()  # a worker did die
    assert {job[0] for job in results} == {"die_once", "nap"} and len(results) == 3
    assert all(result[0] == "done" for result in results.values()), results
    # the job ran again in another process than the one it killed
    assert results[("die_once", str(marker), 0.1)][1] != int(marker.read_text())


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_that_kills_its_worker_every_time_fails_and_the_rest_go_on(tmp_path, workers):
    count = tmp_path / "deaths"
    jobs = [("always_die", str(count)), ("nap", 0.3), ("nap", 0.1), ("nap", 0.05)]
    results = dict(run_all(jobs, workers=workers))
    assert isinstance(results.pop(jobs[0]), WorkerDied)
    # it died once beside the other jobs, then MAX_DEATHS times alone
    assert len(count.read_text()) == MAX_DEATHS + 1
    assert sorted(results) == sorted(jobs[1:])  # the jobs beside it were run again
    assert all(result[0] == "done" for result in results.values()), results


def test_a_sweep_whose_worker_is_killed_mid_trial_equals_one_that_was_not(tmp_path, monkeypatch):
    """A real sweep on 2 local workers: one trial's worker is SIGKILLed after its first
    epoch. The trials the broken pool took with it run again from their checkpoints, and
    the results equal those of an undisturbed sweep."""
    pytest.importorskip("psutil")
    from nnctl.config import validate
    from nnctl.signals import FAULT_ENV
    from nnctl.sweep import run_sweep
    from tests.sweep.killer import WorkerKiller
    from tests.sweep.test_driver import BASE, numbers, results

    config = validate(dict(BASE, train=dict(BASE["train"], epochs=3)))
    straight = run_sweep(config, tmp_path / "straight", workers=1, quiet=True)
    monkeypatch.setenv(FAULT_ENV, "epoch:SIGSTOP")  # forked workers inherit it
    killer = WorkerKiller(tmp_path / "killed")
    killer.start()
    try:
        killed = run_sweep(config, tmp_path / "killed", workers=2, quiet=True)
    finally:
        killer.stop()
    assert killer.victim is not None, "no worker stopped mid-trial"
    trial, pid, had_checkpoint = killer.victim
    assert had_checkpoint and pid != os.getpid()
    summary = json.loads((trial / "summary.json").read_text())
    assert summary["status"] == "completed" and "resumed" in summary  # from its checkpoint
    assert numbers(results(killed.folder)) == numbers(results(straight.folder))
