"""A sweep on a real Dask cluster (a distributed.LocalCluster of two worker processes, reached
by its scheduler's address as any existing cluster would be) survives a worker killed in the
middle of a trial: the trial runs again from its checkpoint and the results equal the local
executor's."""

import json
import os

import pytest
import yaml
from click.testing import CliRunner

from nnctl.cli import main
from nnctl.config import validate
from nnctl.signals import FAULT_ENV
from nnctl.sweep import run_sweep
from tests.sweep.killer import WorkerKiller
from tests.sweep.test_driver import BASE, numbers, results

distributed = pytest.importorskip("dask.distributed")


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
