"""Extending a sweep: `nnctl sweep CONFIG --extend OLD_SWEEP` starts a new sweep folder in
which every trial whose resolved config matches a finished trial of OLD_SWEEP is that trial,
copied in (hard-linked where the filesystem allows, so it costs no space: nnctl replaces
such files rather than changing them; the logs it appends to are copied), and only the other
trials run. A widened grid thus runs just its new points.

A trial is matched on its config as it ran (the trial folder's config.yaml) without the
experiment's name, so renaming the experiment keeps the matches; a completed or diverged
trial is reused (the same config gives the same numbers), a failed, stopped or unfinished
one is not. The copy's summary says where it came from (`reused_from`).
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

from nnctl.runs import RunFolder, Status, SweepFolder
from nnctl.runs.lock import LOCK_FILE

REUSABLE = (Status.COMPLETED, Status.DIVERGED)
APPENDED = ("metrics.jsonl", "log.txt")  # written in place: copied, never linked


def reuse_key(config):
    """What must match for a trial to be reused: the resolved config, name and sweep aside."""
    blob = json.dumps(config.model_dump(mode="json", exclude={"sweep", "name"}), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def find_reusable(old_sweep, trials):
    """{trial number: finished trial folder of old_sweep with the same config} for the new
    sweep's trials. Reads only; RunError when old_sweep is not a sweep folder or one of its
    finished trials' files is damaged."""
    old = SweepFolder.open(Path(old_sweep))
    _, listed = old.read_spec()
    finished = {}
    for entry in listed:
        run = old.trial(entry["number"])
        if not run.summary_path.is_file() or run.status() not in REUSABLE:
            continue
        finished.setdefault(reuse_key(run.read_config()), run.path)
    wanted = {trial.number: reuse_key(trial.config) for trial in trials}
    return {number: finished[key] for number, key in wanted.items() if key in finished}


def copy_trials(folder, reuse):
    """Copy each reused trial folder into the sweep folder as trials/NNN: into a temporary
    name first, then renamed, so a trial folder is either all there or absent."""
    for number, source in sorted(reuse.items()):
        target = folder.trial_path(number)
        temporary = target.with_name(f".{target.name}.copy")
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.copytree(
            source, temporary, symlinks=True, copy_function=_link_or_copy,
            ignore=shutil.ignore_patterns(LOCK_FILE),
        )  # fmt: skip
        # Its scheduler records belonged to the old sweep; here it counts at every rung it
        # passed (nnctl.sweep.scheduler).
        RunFolder(temporary).update_summary(reused_from=str(Path(source).resolve()), rungs=None)
        os.replace(temporary, target)


def _link_or_copy(source, target):
    """A hard link (nnctl replaces the files it rewrites, so the two folders stay
    independent), or a copy for the logs it appends to and where links cannot be made."""
    if Path(source).name not in APPENDED:
        try:
            os.link(source, target)
            return target
        except OSError:
            pass
    return shutil.copy2(source, target)
