"""Kill one sweep worker in the middle of a trial: with NNCTL_FAULT_AT=epoch:SIGSTOP every
trial's process stops itself after its first epoch (its checkpoint written); WorkerKiller
SIGKILLs the first one it finds and lets the others go on."""

import os
import signal
import threading
import time
from pathlib import Path

from nnctl.runs import holder


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
        import psutil  # a dependency of dask.distributed (the dev extra)

        for child in psutil.Process().children(recursive=True):
            try:
                if child.status() == psutil.STATUS_STOPPED:
                    child.send_signal(signal.SIGCONT)
            except psutil.NoSuchProcess:
                pass
