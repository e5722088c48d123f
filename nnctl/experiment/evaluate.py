"""Evaluate a saved run: score its model on a split, and picture its weights.

Both write into the run folder, so they follow the lifecycle too: everything is loaded and
checked first (the model, the data, the split), then the folder is locked while eval.json,
the plots and the summary are written.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl import atomic, viz
from nnctl.datasets import load_dataset
from nnctl.datasets.preprocess import flatten, states_from_arrays
from nnctl.errors import ModelError, RunError
from nnctl.experiment.run import generators
from nnctl.experiment.runners import plot_model_weights
from nnctl.models import KNearestNeighbor, model_from_arrays
from nnctl.runs import RunFolder, Status, SweepFolder, to_json
from nnctl.runs.folder import read_json_file

# What model.npz holds when the run did not complete, said when it is scored.
PARAMETERS_NOTE = {
    Status.DIVERGED: "the run diverged: scoring its best parameters before that (epoch {epoch})",
    Status.INTERRUPTED: "the run was interrupted: scoring its best parameters (epoch {epoch})",
    Status.FAILED: "the run failed: scoring its best parameters before that (epoch {epoch})",
    Status.STALE: "the run was killed: scoring its best parameters so far (epoch {epoch})",
    Status.STOPPED: "the trial was stopped early: scoring its best parameters (epoch {epoch})",
}


@dataclass
class EvalResult:
    run_dir: Path
    split: str
    accuracy: float
    per_class: dict
    confusion: np.ndarray
    class_names: list
    plots: list
    note: str | None = None


@dataclass
class SavedRun:
    folder: RunFolder
    config: object  # ExperimentConfig
    model: object
    info: dict
    states: list
    status: Status | None


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
    except (ModelError, KeyError, ValueError) as err:
        raise RunError(f"{folder.model_path} cannot be used: {err}") from None
    return SavedRun(folder, config, model, info, states, status)


def _note(saved):
    template = PARAMETERS_NOTE.get(saved.status)
    if template is None:
        return None
    return template.format(epoch=saved.info.get("epoch", "?"))


def evaluate_run(run_dir, split="test", data_dir=None, cache_dir=None):
    """Score a saved model on a split; write eval.json and plots/confusion.png (and
    misclassified.png for images); add test_acc to summary.json. Returns EvalResult."""
    if split not in ("test", "val"):
        raise RunError(f"split must be test or val, got {split!r}")
    saved = load_run(run_dir)
    folder, model, info = saved.folder, saved.model, saved.info
    splits = load_dataset(
        saved.config.data,
        generators(saved.config.seed)[0],
        data_dir=data_dir,
        cache_dir=cache_dir,
        preprocess_state=saved.states,
    )
    X, y = (splits.X_test, splits.y_test) if split == "test" else (splits.X_val, splits.y_val)
    if len(X) == 0:
        raise RunError(
            f"the {split} split of this run's data is empty (see data.split in its config)"
        )
    report = read_json_file(folder.eval_path) if folder.eval_path.is_file() else {}
    pred = model.predict(flatten(X) if isinstance(model, KNearestNeighbor) else X)
    names = info.get("class_names") or splits.class_names
    C = len(names)
    confusion = np.bincount(y * C + pred, minlength=C * C).reshape(C, C)
    per_class = {
        names[c]: (float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else None)
        for c in range(C)
    }
    accuracy = float(np.mean(pred == y))
    note = _note(saved)
    with folder.lock():
        suffix = "" if split == "test" else "_val"
        name = saved.config.name
        plots = [
            viz.plot_confusion(
                confusion,
                names,
                folder.plots / f"confusion{suffix}.png",
                title=f"Confusion ({split}, {name})",
            )
        ]
        image_shape = info.get("image_shape")
        if image_shape and X[0].size == int(np.prod(image_shape)):
            channels_first = "channels_first" in info["preprocess"]
            images = viz.rows_as_images(flatten(X), image_shape, channels_first)
            plots.append(
                viz.plot_misclassified(
                    images, y, pred, names, folder.plots / f"misclassified{suffix}.png"
                )
            )
        report[split] = {
            "accuracy": accuracy,
            "examples": int(len(y)),
            "per_class_accuracy": per_class,
            "confusion": confusion.tolist(),
            "class_names": names,
            "model_epoch": info.get("epoch"),
            "note": note,
        }
        atomic.write_text(folder.eval_path, to_json(report, indent=2) + "\n")
        folder.update_summary(**{f"{split}_acc_eval" if split == "val" else "test_acc": accuracy})
    return EvalResult(folder.path, split, accuracy, per_class, confusion, names, plots, note)


def picture_weights(run_dir, out=None, layer=1):
    """Write the weight picture of a saved net's layer `layer`; returns its path."""
    saved = load_run(run_dir)
    folder, model, info = saved.folder, saved.model, saved.info
    if isinstance(model, KNearestNeighbor):
        raise RunError(f"{folder.path} is a kNN run: it has no learned weights to picture")
    if f"W{layer}" not in model.params:
        raise RunError(f"the model has no layer {layer} (it has {model.num_layers})")
    out = (
        Path(out)
        if out
        else folder.plots / ("weights.png" if layer == 1 else f"weights_layer{layer}.png")
    )
    with folder.lock():
        return plot_model_weights(
            model, info.get("image_shape"), info.get("class_names"), info["preprocess"], out, layer
        )
