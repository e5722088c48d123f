"""Evaluate a saved run: score its model on a split, and picture its weights.

Both write into the run folder, so they follow the lifecycle too: everything is loaded and
checked first (the model, the data, the split), then the folder is locked while eval.json,
the plots and the summary are written.
"""

from dataclasses import dataclass, field
from pathlib import Path

from nnctl import atomic
from nnctl.datasets import features, load_dataset
from nnctl.datasets.preprocess import states_from_arrays
from nnctl.errors import DatasetError, ModelError, RunError
from nnctl.experiment.dispatch import RUNNERS
from nnctl.experiment.run import generators
from nnctl.models import model_from_arrays
from nnctl.runs import RunFolder, Status, SweepFolder, to_json
from nnctl.runs.folder import read_json_file
from nnctl.training.threads import ThreadSetting

# What model.npz holds when the run did not complete, said when it is scored.
PARAMETERS_NOTE = {
    Status.DIVERGED: "the run diverged: scoring its best parameters before that (epoch {epoch})",
    Status.INTERRUPTED: "the run was interrupted: scoring its best parameters (epoch {epoch})",
    Status.FAILED: "the run failed: scoring its best parameters before that (epoch {epoch})",
    Status.STALE: "the run was killed: scoring its best parameters so far (epoch {epoch})",
    Status.STOPPED: "the trial was stopped early: scoring its best parameters (epoch {epoch})",
    Status.PAUSED: "the trial is paused at a rung: scoring its best parameters so far (epoch "
    "{epoch})",
}


@dataclass
class SavedRun:
    folder: RunFolder
    config: object  # ExperimentConfig
    model: object
    info: dict
    states: list
    status: Status | None
    feature_states: list = field(default_factory=list)  # learned features' states, per feature


def resolve_run(run_dir):
    """A run folder, or the best trial of a sweep folder."""
    if SweepFolder.is_sweep(run_dir):
        return SweepFolder.open(run_dir).best()
    return Path(run_dir)


def load_run(run_dir):
    """A saved run (folder, config, model, info, preprocessing states, status): RunError
    naming the file when one is missing or damaged."""
    folder = RunFolder.open(resolve_run(run_dir))
    config = folder.read_config()
    status = folder.status()
    info, model_arrays, preprocess_arrays = folder.load_model()
    try:
        model = model_from_arrays(info["spec"], model_arrays)
        states = states_from_arrays(info["preprocess"], preprocess_arrays)
        feature_states = features.states_from_arrays(config.data.features, preprocess_arrays)
    except (ModelError, DatasetError, KeyError, ValueError) as err:
        raise RunError(f"{folder.model_path} cannot be used: {err}") from None
    return SavedRun(folder, config, model, info, states, status, feature_states)


def _note(saved):
    template = PARAMETERS_NOTE.get(saved.status)
    if template is None:
        return None
    return template.format(epoch=saved.info.get("epoch", "?"))


def load_split(saved, split, data_dir=None, cache_dir=None):
    """(splits, X, y): a saved run's data with its saved feature and preprocessing states
    applied, and the arrays of its `split` ('test' or 'val'); RunError when that is empty."""
    splits = load_dataset(
        saved.config.data,
        generators(saved.config.seed)[0],
        data_dir=data_dir,
        cache_dir=cache_dir,
        preprocess_state=saved.states,
        feature_state=saved.feature_states,
    )
    X, y = (splits.X_test, splits.y_test) if split == "test" else (splits.X_val, splits.y_val)
    if len(X) == 0:
        raise RunError(
            f"the {split} split of this run's data is empty (see data.split in its config)"
        )
    return splits, X, y


def evaluate_run(run_dir, split="test", data_dir=None, cache_dir=None, threads=None):
    """Score a saved model on a split as its model type says (a classifier: accuracy,
    per-class accuracy, confusion.png and misclassified.png; an autoencoder: reconstruction
    error and its distance to PCA); write eval.json and add test_<metric> to summary.json.
    threads: a ThreadSetting for the scoring (default auto), recorded in eval.json.
    Returns EvalResult."""
    if split not in ("test", "val"):
        raise RunError(f"split must be test or val, got {split!r}")
    saved = load_run(run_dir)
    folder = saved.folder
    splits, X, y = load_split(saved, split, data_dir, cache_dir)
    report = read_json_file(folder.eval_path) if folder.eval_path.is_file() else {}
    with folder.lock():
        with (threads or ThreadSetting()).applied() as used:
            result = RUNNERS[saved.config.model.type].score(saved, splits, X, y, split)
        result.note = _note(saved)
        report[split] = {
            **result.report,
            "model_epoch": saved.info.get("epoch"),
            "note": result.note,
            "threads": used,
        }
        atomic.write_text(folder.eval_path, to_json(report, indent=2) + "\n")
        if result.accuracy is not None:
            fields = {"test_acc" if split == "test" else "val_acc_eval": result.accuracy}
        else:
            error = result.metrics["reconstruction_error"]
            fields = {"test_error" if split == "test" else "val_error_eval": error}
        folder.update_summary(**fields)
    return result


def picture_weights(run_dir, out=None, layer=1):
    """Write the weight picture of a saved model (layer `layer` of a net); returns its path."""
    saved = load_run(run_dir)
    folder = saved.folder
    out = (
        Path(out)
        if out
        else folder.plots / ("weights.png" if layer == 1 else f"weights_layer{layer}.png")
    )
    picture = RUNNERS[saved.config.model.type].picture_weights  # raises before it writes
    with folder.lock():
        return picture(saved, out, layer)
