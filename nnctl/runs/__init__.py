"""Run and sweep folders: creation, locks, atomic files, the metrics log, summaries, the
saved model, and the listing `nnctl runs` shows. Knows nothing of training (no Solver)."""

from nnctl.runs.folder import (
    FORMAT,
    RunFolder,
    create_run_dir,
    environment,
    probe_writable,
    to_json,
    update_latest,
)
from nnctl.runs.listing import epoch_rows, flat_config, list_runs, parse_where, varying_keys
from nnctl.runs.lock import FolderLock, holder
from nnctl.runs.sweep_folder import SweepFolder
from nnctl.status import FINISHED, Status

__all__ = [
    "FINISHED",
    "FORMAT",
    "FolderLock",
    "RunFolder",
    "Status",
    "SweepFolder",
    "create_run_dir",
    "environment",
    "epoch_rows",
    "flat_config",
    "holder",
    "list_runs",
    "parse_where",
    "probe_writable",
    "to_json",
    "update_latest",
    "varying_keys",
]
