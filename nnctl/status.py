"""The one status type of runs, trials, sweeps, results.csv, summary.json and `nnctl runs`."""

from enum import Enum


class Status(str, Enum):
    """Where a run (or a trial, or a sweep) stands.

    running      a process is working on it (it holds the folder's lock)
    completed    it trained to the end, or stopped early on its own rule (early stopping)
    diverged     its loss became NaN/inf or exploded; the best parameters before are kept
    failed       an error ended it; the traceback is in its log.txt
    interrupted  Ctrl-C or SIGTERM stopped it; it left a checkpoint to resume from
    stopped      a sweep's scheduler ended the trial early (it was not promising)
    paused       a sweep's scheduler paused the trial at a rung (an epoch count) to compare
                 it with the others; it left a checkpoint and continues if promoted
    stale        it says running but no process holds its lock (the process was killed);
                 never written to a file, only shown when a folder is read
    """

    RUNNING = "running"
    COMPLETED = "completed"
    DIVERGED = "diverged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"
    PAUSED = "paused"
    STALE = "stale"

    def __str__(self):
        return self.value

    @property
    def finished(self):
        """Whether the work is over for good (a resume has nothing to continue)."""
        return self in FINISHED


FINISHED = frozenset({Status.COMPLETED, Status.DIVERGED, Status.FAILED, Status.STOPPED})
