"""TensorBoard event files, written by tensorboardX (the optional extra nnctl[tensorboard]).

`export_tensorboard(RUN_OR_SWEEP, out)` writes out/<folder name>/: a run's scalars (the
tags of nnctl.export.source), its config.yaml as text, its hyperparameters and final metrics
for the HParams dashboard, and the first layer's weight picture as an image. A sweep becomes
out/<sweep folder>/trial-NNN/, one run per trial, with the experiment (every hyperparameter and
metric) declared once at out/<sweep folder>/, so the HParams dashboard shows the trials as
one table. Exporting again replaces what an earlier export wrote there.
(`train.log_to: [tensorboard]` writes the same scalars while a run trains:
nnctl.training.live.)
"""

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from nnctl.errors import ExportError
from nnctl.export.source import read_source
from nnctl.training.live import summary_writer

MARKER = ".nnctl-export"  # marks a folder an export wrote, which a later export may replace


def export_tensorboard(path, out="tensorboard"):
    """Write the event files of the run or sweep folder `path` into out/<its name>/.

    Everything is read and checked first (RunError for a damaged folder; ExportError when
    tensorboardX is absent or out/<name> exists but was not written by an export); then the
    files are written beside it and moved into place. Returns (that folder, runs written)."""
    writer_class = summary_writer(ExportError, "nnctl export tensorboard")
    sweep, runs = read_source(path)
    if not runs:
        raise ExportError(f"{sweep.path} has no trial folders yet: there is nothing to export")
    pictures = {run.run_id: _read_picture(run.weights_png) for run in runs}
    target = Path(out) / (sweep or runs[0]).path.name
    with _replacing(target) as tmp:
        if sweep is None:
            _write_run(writer_class, tmp, runs[0], pictures[runs[0].run_id], declare=True)
        else:
            with writer_class(str(tmp)) as writer:
                _write_text(writer, "config", sweep.config_text, sweep.started)
                experiment, _, _ = _hparams(
                    _union(run.params for run in runs), _union(run.final for run in runs)
                )
                writer.file_writer.add_summary(experiment)
            for run in runs:
                name = f"trial-{run.path.name}"
                _write_run(writer_class, tmp / name, run, pictures[run.run_id], declare=False)
    return target, len(runs)


def _write_run(writer_class, logdir, run, picture, declare):
    """One run's events in logdir; declare: also the experiment (a run of its own)."""
    when = run.finished or run.started
    with writer_class(str(logdir)) as writer:
        for scalar in run.scalars:
            writer.add_scalar(scalar.tag, scalar.value, scalar.step, walltime=scalar.time)
        final_step = int(run.final.get("epochs", 0))
        for name, value in run.final.items():
            writer.add_scalar(name, value, final_step, walltime=when)
        _write_text(writer, "config", run.config_text, run.started)
        if picture is not None:
            writer.add_image("weights", picture, final_step, walltime=when, dataformats="HWC")
        experiment, start, end = _hparams(run.params, run.final)
        if declare:
            writer.file_writer.add_summary(experiment)
        writer.file_writer.add_summary(start)
        writer.file_writer.add_summary(end)


def _write_text(writer, tag, text, when):
    # TensorBoard renders text as Markdown: indented by four spaces it shows as written.
    writer.add_text(tag, "".join(f"    {line}" for line in text.splitlines(True)), 0, when)


def _hparams(params, final):
    """tensorboardX's (experiment, session start, session end) summaries. Values without a
    type TensorBoard knows (null) are left out, as tensorboardX does."""
    from tensorboardX.summary import hparams

    values = {k: v for k, v in params.items() if isinstance(v, (str, bool, int, float))}
    return hparams(values, dict(final))


def _union(dicts):
    """Every key of dicts, with its first value that is not None (its type is what counts)."""
    union = {}
    for mapping in dicts:
        for key, value in mapping.items():
            if union.get(key) is None:
                union[key] = value
    return union


def _read_picture(path):
    """plots/weights.png as (H, W, C) (floats in 0..1, as tensorboardX takes them), or None."""
    if path is None:
        return None
    from matplotlib import image

    try:
        picture = image.imread(path)
    except (OSError, ValueError, SyntaxError) as err:
        raise ExportError(f"{path} cannot be read as a PNG ({err})") from None
    return picture if picture.ndim == 3 else picture[:, :, None]


@contextmanager
def _replacing(target):
    """A fresh folder beside target to write into; on success it replaces target (which must
    be absent or an earlier export's), on failure it is removed and target left as it was."""
    if target.exists() and not (target / MARKER).is_file():
        raise ExportError(
            f"{target} exists and was not written by nnctl export; choose another --out"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()  # with the umask's mode: result folders are shared
    except OSError as err:
        raise ExportError(f"cannot write {target} ({err.strerror or err})") from None
    try:
        yield tmp
        (tmp / MARKER).touch()
        old = tmp.with_suffix(".old")
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ExportError(f"cannot write {target} ({err.strerror or err})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
