"""Reports and comparisons of runs: `nnctl report` and `nnctl compare`.

write_report(path)  report.html of a run folder, or of a sweep folder and each of its trials:
                    one self-contained file per folder (see nnctl.report.html)
compare_runs(paths) what differs between runs, and how they did

Like every command that writes, a report is made in two steps: everything is read and the
page rendered first (a damaged file is a RunError and nothing is written), then the file is
written atomically, under the folder's lock when it goes into the folder (a folder another
process holds is not written: RunError).
"""

from contextlib import nullcontext
from pathlib import Path

from nnctl import atomic
from nnctl.errors import RunError
from nnctl.report import run_page, sweep_page
from nnctl.report.compare import compare_runs
from nnctl.runs import RunFolder, SweepFolder

__all__ = ["compare_runs", "write_report"]

REPORT = "report.html"


def _up_to_date(path):
    """Whether path's report.html is newer than every other file of the folder."""
    report = Path(path) / REPORT
    if not report.is_file():
        return False
    newest = 0.0
    for folder in (Path(path), Path(path) / "plots"):
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.name not in (REPORT, ".lock") and entry.is_file():
                    newest = max(newest, entry.stat().st_mtime)
    return report.stat().st_mtime >= newest


def _save(target, text):
    try:
        atomic.write_text(target, text)
    except OSError as err:
        raise RunError(f"cannot write {target} ({err.strerror or err})") from None


def _write(folder, target, text, trial_pages=()):
    """target written atomically, under folder's lock when it goes inside the folder; the
    pages of trials (folder, text) first, each under its trial's lock."""
    target = Path(target)
    if not target.parent.is_dir():
        raise RunError(f"cannot write {target}: the folder {target.parent} does not exist")
    inside = target.resolve().parent == folder.path.resolve()
    with folder.lock() if inside else nullcontext():
        for trial, trial_text in trial_pages:
            with trial.lock():
                _save(trial.report_path, trial_text)
        _save(target, text)
    return target


def render_run(path):
    """The report page of the run folder at path (a trial gets a link to its sweep)."""
    run = run_page.read_run(path)
    up = sweep_page.trial_up_link(path) if run_page.sweep_of(path) else None
    return run_page.render(run, up)


def write_report(path, out=None, trials=True):
    """Write the report of the run or sweep folder at path to out (default
    <folder>/report.html) and return its path. For a sweep, also each trial's own report
    (trials=True; those already newer than everything in their folder are kept)."""
    path = Path(path).resolve()  # runs/latest: the folder it points at
    if SweepFolder.is_sweep(path):
        folder = SweepFolder.open(path)
        target = Path(out) if out else folder.report_path
        text = sweep_page.render(folder, target.resolve().parent)
        pages = []
        if trials:
            pages = [
                (RunFolder(trial), render_run(trial))
                for trial in sweep_page.trial_paths(folder)
                if not _up_to_date(trial)
            ]
        return _write(folder, target, text, pages)
    folder = RunFolder.open(path)
    text = render_run(path)
    return _write(folder, Path(out) if out else folder.report_path, text)
