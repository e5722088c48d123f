"""A sweep on a real Dask cluster (a distributed.LocalCluster of two worker processes, reached
by its scheduler's address as any existing cluster would be) survives a worker killed in the
middle of a trial: the trial runs again from its checkpoint and the results equal the local
executor's."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import validate
from nnctl.runs import holder
from nnctl.signals import FAULT_ENV
from nnctl.sweep import run_sweep
from tests.sweep.test_driver import BASE, numbers, results

distributed = pytest.importorskip("dask.distributed")
psutil = pytest.importorskip("psutil")  # a dependency of distributed


def stopped(pid):
    """Whether process pid is stopped (SIGSTOP), from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "T"


class WorkerKiller(threading.Thread):
    """Every trial's worker stops itself (SIGSTOP) when the trial has written its first
    epoch's checkpoint. The first one found is SIGKILLed, the others are continued."""

    def __init__(self, runs_dir):
        super().__init__(daemon=True)
        self.runs_dir = runs_dir
        self.done = threading.Event()
        self.victim = None  # (trial folder, pid)
        self.continued = set()

    def run(self):  # nothing here may raise: a worker left stopped would hang the sweep
        while not self.done.is_set():
            for lock in self.runs_dir.glob("*-sweep/trials/*/.lock"):
                owner = holder(lock.parent) or ""
                pid = int(owner.split()[0]) if owner[:1].isdigit() else None
                if pid is None or not stopped(pid):
                    continue
                if self.victim is None:
                    self.victim = (lock.parent, pid, (lock.parent / "checkpoint.npz").is_file())
                    os.kill(pid, signal.SIGKILL)
                else:
                    self.continued.add(pid)
                    os.kill(pid, signal.SIGCONT)
            time.sleep(0.02)

    def stop(self):
        """Stop watching, and let every stopped process of this test go on (so that the
        cluster can close even when the sweep failed)."""
        self.done.set()
        self.join()
        for child in psutil.Process().children(recursive=True):
            try:
                if child.status() == psutil.STATUS_STOPPED:
                    child.send_signal(signal.SIGCONT)
            except psutil.NoSuchProcess:
                pass


def test_a_worker_killed_mid_trial_costs_the_sweep_nothing(tmp_path, monkeypatch):
    config = dict(BASE, train=dict(BASE["train"], epochs=3))
    config_file = tmp_path / "toy.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))  # the grid's order
    local = run_sweep(validate(config), tmp_path / "local", workers=1, quiet=True)

    monkeypatch.setenv(FAULT_ENV, "epoch:SIGSTOP")  # the workers inherit it
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address="127.0.0.1:0",  # no fixed port, loopback only
    )  # fmt: skip
    client = distributed.Client(cluster)
    killer = WorkerKiller(tmp_path / "dask")
    try:
        workers = set(client.run(os.getpid).values())
        killer.start()
        result = CliRunner().invoke(
            main,
            [
                "sweep", str(config_file), "--executor", "dask", "--workers", "2",
                "--scheduler", cluster.scheduler_address,
                "--runs-dir", str(tmp_path / "dask"), "--quiet",
            ],
        )  # fmt: skip
    finally:
        killer.stop()
        client.close()
        cluster.close()
    assert result.exit_code == 0, result.output + (result.stderr or "")

    assert killer.victim is not None, "no worker stopped mid-trial"
    trial, pid, had_checkpoint = killer.victim
    assert had_checkpoint  # killed mid-trial, after its first epoch
    assert pid in workers and killer.continued  # a cluster worker; the others went on
    summary = json.loads((trial / "summary.json").read_text())
    assert summary["status"] == "completed" and "resumed" in summary  # from its checkpoint
    (folder,) = (tmp_path / "dask").glob("*-sweep")
    assert numbers(results(folder)) == numbers(results(local.folder))
