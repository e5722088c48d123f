"""The nnctl command line: parse, delegate, report. No logic a test would need lives here.

Exit codes: 0 success; 1 the experiment failed or diverged; 2 the user's input was wrong
(including a damaged file the user pointed at); 130 interrupted (Ctrl-C or SIGTERM; a run
leaves a checkpoint to resume from). Every failure is one line on stderr; --debug shows the
traceback instead, and a run's own failures keep theirs in its log.txt.

group.py holds the command group and the shared options; each other module adds its
commands to the group when imported, below.
"""

from nnctl.cli import data_and_config, experiments, results  # noqa: F401 (they add commands)
from nnctl.cli.group import main

__all__ = ["main"]
