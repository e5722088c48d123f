"""What people see on the terminal: log lines on stderr, progress bars only on a terminal.

Library code logs through the "nnctl" logger; a run copies those records into its log.txt.
The console handler is marked so that it can be found again: sweep trials mute it (their
epoch lines belong in their own log.txt), and a second setup does not add another.
"""

import logging
import sys
from contextlib import contextmanager

log = logging.getLogger("nnctl")


def _console_handlers():
    return [h for h in log.handlers if getattr(h, "_nnctl_console", False)]


def setup(quiet=False, debug=False):
    """One stderr handler on the "nnctl" logger: INFO and above (WARNING and above if quiet)."""
    if not _console_handlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._nnctl_console = True
        log.addHandler(handler)
    for handler in _console_handlers():
        handler.setLevel(logging.WARNING if quiet else logging.INFO)
    log.setLevel(logging.DEBUG if debug else logging.INFO)
    log.propagate = False
    # A log file that cannot be written (a full disk) must not print logging's own traceback
    # on the console: the run's status and the one error line say what happened.
    logging.raiseExceptions = debug


@contextmanager
def muted():
    """No console output from the "nnctl" logger inside the block (file handlers still get
    every record)."""
    handlers = _console_handlers()
    for handler in handlers:
        log.removeHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            log.addHandler(handler)


def show_progress(flag=None):
    """Progress bars: when asked for (--progress), else only when stderr is a terminal, so
    piped output and log files never get carriage-return frames."""
    if flag is not None:
        return flag
    return sys.stderr.isatty()
