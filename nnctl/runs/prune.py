"""Deleting runs (`nnctl runs rm`) and pruning what finished runs no longer need
(`nnctl runs gc`). Both are planned first — every folder checked, nothing touched — and then
carried out folder by folder under the folder's lock, so a run another process holds is never
changed: rm refuses it, gc leaves it for later.

What gc removes, and why it is safe:
  checkpoint.npz  of runs and trials that are completed, diverged or stopped (they cannot be
                  resumed; interrupted, failed and stale ones keep theirs: they can be)
  data/           a sweep's stored copy of its data (a resume loads the data again)
  model.npz       with --keep-best: of every finished trial of a sweep except its best one
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from nnctl.errors import RunError
from nnctl.runs.folder import RunFolder, effective_status
from nnctl.runs.lock import FolderLock, holder, in_use_message
from nnctl.runs.sweep_folder import SweepFolder
from nnctl.status import Status

# Finished for good and not resumable: their checkpoints are of no further use.
PRUNABLE = frozenset({Status.COMPLETED, Status.DIVERGED, Status.STOPPED})


@dataclass
class Removal:
    """One file or folder to remove, inside the run or sweep folder `owner`."""

    owner: Path
    path: Path
    size: int
    what: str  # "run", "sweep", "checkpoint", "model", "data"


def size_of(path):
    """Bytes under path (a file, or a folder's files; links are not followed)."""
    path = Path(path)
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass
    return total


def _is_trial(path):
    return path.parent.name == "trials" and SweepFolder.is_sweep(path.parent.parent)


def plan_rm(paths):
    """[Removal] of whole run or sweep folders; RunError (nothing removed) if any path is not
    a run or sweep folder, is a sweep's trial, or is in use by another process."""
    removals = []
    for given in paths:
        path = Path(given).resolve()  # runs/latest names the folder it points at
        if SweepFolder.is_sweep(path):
            SweepFolder.open(path)
            what = "sweep"
        else:
            RunFolder.open(path)
            what = "run"
            if _is_trial(path):
                raise RunError(
                    f"{given} is a trial of the sweep {path.parent.parent}; remove the sweep"
                )
        if holder(path) is not None:
            raise RunError(in_use_message(path))
        if all(r.path != path for r in removals):
            removals.append(Removal(path, path, size_of(path), what))
    return removals


def _run_removals(path, owner, status, keep_model=True):
    removals = []
    folder = RunFolder(path)
    if status in PRUNABLE and folder.checkpoint_path.is_file():
        removals.append(
            Removal(owner, folder.checkpoint_path, size_of(folder.checkpoint_path), "checkpoint")
        )
    if not keep_model and status is not None and status.finished and folder.model_path.is_file():
        removals.append(Removal(owner, folder.model_path, size_of(folder.model_path), "model"))
    return removals


def _sweep_removals(folder, keep_best):
    removals = []
    data = folder.path / "data"
    if data.is_dir():
        removals.append(Removal(folder.path, data, size_of(data), "data"))
    best = None
    if keep_best and folder.best_link.exists():
        best = folder.best()
    if folder.trials_dir.is_dir():
        for path in sorted(p for p in folder.trials_dir.iterdir() if p.is_dir()):
            status = effective_status(path, RunFolder(path).read_summary())
            keep_model = best is None or path.resolve() == best
            removals += _run_removals(path, folder.path, status, keep_model)
    return removals


def plan_gc(runs_dir, keep_best=False):
    """([Removal], [folders skipped because another process holds them]) for every run and
    sweep folder in runs_dir. keep_best: also the models of all finished trials of a sweep
    but its best one. RunError naming a damaged summary."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise RunError(f"runs folder {runs_dir} does not exist")
    removals, busy = [], []
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        sweep = SweepFolder.is_sweep(path)
        folder = SweepFolder(path) if sweep else RunFolder(path)
        if not folder.summary_path.is_file():
            continue
        if holder(path) is not None:
            busy.append(path)
            continue
        if sweep:
            removals += _sweep_removals(folder, keep_best)
        else:
            removals += _run_removals(path, path, folder.status())
    return removals, busy


def carry_out(removals):
    """Remove what was planned, each owner folder under its lock. Returns the folders left
    alone because another process took them since the plan (nothing of theirs is removed)."""
    by_owner = {}
    for removal in removals:
        by_owner.setdefault(removal.owner, []).append(removal)
    busy = []
    for owner, items in by_owner.items():
        try:
            lock = FolderLock(owner).acquire()
        except RunError:
            busy.append(owner)
            continue
        try:
            for item in items:
                if item.path.is_dir() and not item.path.is_symlink():
                    shutil.rmtree(item.path)
                else:
                    item.path.unlink(missing_ok=True)
        finally:
            lock.release()
        latest = owner.parent / "latest"
        if latest.is_symlink() and not latest.exists():
            latest.unlink()  # it pointed at a folder just removed
    return busy
