"""Run one experiment into a run folder, and evaluate a saved run.

run.py        the lifecycle of a run: validate, create, run, record (run_experiment)
lifecycle.py  the status table: how every exit path ends
runners.py    what each model type does in a run (RUNNERS)
evaluate.py   eval and viz-weights of a saved run
"""

from nnctl.experiment.evaluate import (
    evaluate_run,
    load_run,
    picture_weights,
    resolve_run,
)
from nnctl.experiment.lifecycle import RunResult
from nnctl.experiment.run import generators, resolve_paths, run_experiment
from nnctl.experiment.scoring import EvalResult

__all__ = [
    "EvalResult",
    "RunResult",
    "evaluate_run",
    "generators",
    "load_run",
    "picture_weights",
    "resolve_paths",
    "resolve_run",
    "run_experiment",
]
