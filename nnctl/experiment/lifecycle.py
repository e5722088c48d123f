"""How a run folder's status follows from the way its work ends: decided here, and only here.

    the work ...                                   status        error raised   exit code
    returned a result                              its status    -              0, 1 diverged,
                                                                                130 interrupted
    was stopped by Ctrl-C / SIGTERM                interrupted   -              130
    raised an NnctlError (e.g. input found late)   failed        the same       its own (2, 1)
    raised anything else (a bug, a full disk)      failed        ExperimentFailed   1
    was SIGKILLed                                  running       -              (`nnctl runs`
                                                                                 shows stale)

The folder is locked while its work runs; the status is written with Ctrl-C/SIGTERM held
back, so it is never half written. The traceback of a failure goes to the folder's log.txt,
never to the console (the command line prints one line).
"""

import logging
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nnctl import signals
from nnctl.errors import ExperimentFailed, NnctlError
from nnctl.runs import to_json
from nnctl.status import Status

log = logging.getLogger("nnctl")


@dataclass
class RunResult:
    """What a run reports when its work ends."""

    run_dir: Path
    status: Status
    best_val_acc: float | None = None
    train_acc: float | None = None
    val_acc: float | None = None
    epochs: int = 0
    seconds: float = 0.0
    stop_reason: str | None = None
    metric: str = "acc"  # what train_acc, val_acc and best_val_acc hold: acc, or error
    extra: dict = field(default_factory=dict)


def execute(folder, lock, work):
    """Run work() -> RunResult in folder (whose lock is held) and record a truthful status.

    Returns the RunResult (completed, diverged or interrupted); raises as the table above
    says when the work failed. The lock is released on every path.
    """
    started = time.time()
    error = None
    try:
        with _file_logging(folder):
            try:
                result = work()
            except KeyboardInterrupt:
                log.warning("interrupted: the run stops here")
                result = RunResult(folder.path, Status.INTERRUPTED, stop_reason="interrupted")
            except Exception as err:
                error = err
                _write_traceback(folder, err)
                result = RunResult(folder.path, Status.FAILED, stop_reason="error")
            result.seconds = time.time() - started
            with signals.deferred():
                _record(folder, result, error)
    finally:
        lock.release()
    if error is None:
        return result
    if isinstance(error, NnctlError):
        raise error
    raise ExperimentFailed(
        f"the run failed ({type(error).__name__}: {error}); see {folder.log_path}"
    ) from error


def _record(folder, result, error):
    """The final status: written atomically; if that fails (a full disk), the file is
    overwritten in place, which needs no new space; if even that fails, the lock (released on
    exit) lets `nnctl runs` show the run as stale rather than running."""
    previous = _summary_or_empty(folder)
    fields = {
        "status": result.status,
        "finished": time.time(),
        "seconds": (previous.get("seconds") or 0) + result.seconds,
    }
    if error is not None:
        fields["error"] = f"{type(error).__name__}: {error}"
    if result.stop_reason is not None and "stop_reason" not in previous:
        fields["stop_reason"] = result.stop_reason
    try:
        folder.update_summary(**fields)
    except (OSError, NnctlError) as err:
        try:
            _overwrite_in_place(folder.summary_path, {**previous, **fields})
        except OSError:
            log.error("could not record the status of %s (%s)", folder.path, err)


def _summary_or_empty(folder):
    try:
        return folder.read_summary()
    except NnctlError:
        return {}


def _overwrite_in_place(path, summary):
    text = to_json(summary) + "\n"
    with open(path, "r+", encoding="utf-8") as f:
        f.write(text)
        f.truncate()


def _write_traceback(folder, err):
    try:
        with open(folder.log_path, "a", encoding="utf-8") as f:
            f.write("run failed:\n" + "".join(traceback.format_exception(err)))
    except OSError:
        pass


@contextmanager
def _file_logging(folder):
    """Copy nnctl's log records into the run's log.txt while the run lasts."""
    handler = logging.FileHandler(folder.log_path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("nnctl")
    logger.addHandler(handler)
    previous = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()
