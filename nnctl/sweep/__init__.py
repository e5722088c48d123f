"""Sweeps: a search space expanded into trials, each run through nnctl.experiment, on a
process pool or Dask, into one sweep folder.

    space.py      the sweep block expanded into validated trial configs
    executors.py  where trials run: inline, a local process pool, Dask
    driver.py     the sweep's lifecycle: validate, create, run trials, results, resume
"""

from nnctl.sweep.driver import SweepResult, find_sweep, run_sweep
from nnctl.sweep.space import expand

__all__ = ["SweepResult", "expand", "find_sweep", "run_sweep"]
