"""Ctrl-C and SIGTERM, handled the same way everywhere.

- `terminate_as_interrupt()`: SIGTERM raises KeyboardInterrupt like Ctrl-C, so one `except
  KeyboardInterrupt` covers both at any moment (start-up, data loading, saving).
- `graceful(request_stop)`: while training, the first signal only asks the work to stop after
  its current step (so the checkpoint is consistent); a second one raises KeyboardInterrupt.
- `deferred()`: signals wait while a folder is created or its final status written, so no
  folder is ever half made; they are delivered when the block ends.

Signal handlers can only be set in the main thread; elsewhere these do nothing.
"""

import logging
import os
import signal
import threading
from contextlib import contextmanager

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_IN_WORKER = False  # set in sweep worker processes by ignore_in_worker()


def _main_thread():
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def _handlers(handler):
    if not _main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    if not _IN_WORKER:  # a sweep's worker leaves stopping to the sweep (its stop file)
        for sig in STOP_SIGNALS:
            signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def terminate_as_interrupt():
    """SIGINT and SIGTERM raise KeyboardInterrupt inside the block."""
    with _handlers(_raise_interrupt):
        yield


@contextmanager
def graceful(request_stop):
    """The first SIGINT/SIGTERM calls request_stop(); a second raises KeyboardInterrupt."""
    received = []

    def handler(signum, frame):
        if received:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        received.append(signum)
        log.warning("received %s: stopping after this step", signal.Signals(signum).name)
        request_stop()

    with _handlers(handler):
        yield


@contextmanager
def deferred():
    """Hold SIGINT/SIGTERM until the block has finished (then they are delivered)."""
    if not _main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_in_worker():
    """For sweep worker processes: Ctrl-C in the terminal reaches the whole process group, but
    the sweep stops its trials itself (through the stop file), so workers must not die with a
    traceback, nor install handlers of their own later. (A command started with the signals
    ignored, say as a background job of a script, still handles them: only workers ignore.)"""
    global _IN_WORKER
    _IN_WORKER = True
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


FAULT_ENV = "NNCTL_FAULT_AT"


def fault_point(stage):
    """A hook for the lifecycle tests: with NNCTL_FAULT_AT=<stage>:<SIGNAL> in the environment
    (e.g. loaded:SIGTERM), the process sends itself that signal when it reaches <stage>, so a
    test can stop a real run at a chosen moment. Stages: start, loaded, created, epoch,
    trained, saved (runs), trial (a sweep, after a finished trial) and rung (a sweep, when a
    trial paused at a scheduler's rung, before it is decided). It fires once per process."""
    spec = os.environ.get(FAULT_ENV)
    if spec and (os.getpid(), stage) not in _FAULTS_SENT:  # once per process
        at, _, name = spec.partition(":")
        if at == stage:
            _FAULTS_SENT.add((os.getpid(), stage))
            os.kill(os.getpid(), getattr(signal, name or "SIGINT"))


_FAULTS_SENT = set()
