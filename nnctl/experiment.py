"""Run one experiment from a validated config into a run folder, and evaluate a saved run.

The run folder is created only after the config is valid and the data has loaded, so a
mistake never leaves a half-made folder behind; once it exists it is never overwritten, and a
failing run keeps it with status `failed` and the traceback in log.txt.
"""

import json
import logging
import math
import signal
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl import atomic, viz
from nnctl.config import ExperimentConfig, config_differences, to_yaml
from nnctl.datasets import load_dataset
from nnctl.datasets.augment import make_augmenter
from nnctl.datasets.preprocess import flatten, states_from_arrays, states_to_arrays
from nnctl.errors import ExperimentFailed, NnctlError, RunError
from nnctl.models import KNearestNeighbor, build_model, model_from_arrays, model_to_arrays
from nnctl.models.knn import best_k
from nnctl.runs import RunFolder, RunRecorder, create_run_dir, environment, update_latest
from nnctl.training.solver import COMPLETED, DIVERGED, EARLY_STOPPED, INTERRUPTED, Solver

log = logging.getLogger(__name__)
SUMMARY_STATUS = {
    COMPLETED: "completed",
    EARLY_STOPPED: "completed",
    DIVERGED: "diverged",
    INTERRUPTED: "interrupted",
}


@dataclass
class RunResult:
    """What a finished (or stopped) run reports. status: completed | diverged | interrupted."""

    run_dir: Path
    status: str
    best_val_acc: float | None = None
    train_acc: float | None = None
    val_acc: float | None = None
    epochs: int = 0
    seconds: float = 0.0
    stop_reason: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class EvalResult:
    run_dir: Path
    split: str
    accuracy: float
    per_class: dict
    confusion: np.ndarray
    class_names: list
    plots: list


def generators(seed):
    """The run's Generators from its seed: one for generating data (synthetic sets), one for
    everything in training (initial weights, shuffling, dropout, augmentation). Independent
    streams, so a sweep that shares loaded data gives the same numbers as a standalone run."""
    data_seq, train_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(data_seq), np.random.default_rng(train_seq)


def resolve_paths(config, base_dir):
    """The config with data.path made absolute (relative to base_dir, the experiment file's
    folder), so the saved config still finds the file from anywhere."""
    if (
        config.data.path
        and base_dir is not None
        and not Path(config.data.path).expanduser().is_absolute()
    ):
        data = config.data.model_copy(
            update={"path": str((Path(base_dir) / config.data.path).resolve())}
        )
        return config.model_copy(update={"data": data})
    return config


def run_experiment(
    config: ExperimentConfig,
    runs_dir="runs",
    *,
    data_dir=None,
    cache_dir=None,
    base_dir=None,
    quiet=False,
    resume=None,
    run_dir=None,
    splits=None,
):
    """Load the data, build the model, train it and write the run folder.

    Inputs: config validated; runs_dir where the new run folder goes; data_dir (--data-dir)
    and cache_dir (feature cache); base_dir the folder relative paths in the config are read
    from; quiet turns progress bars and console logs off; resume an existing run folder to
    continue from its checkpoint; run_dir an empty folder to use instead of a new one (used by
    sweeps); splits data already loaded for this config (used by sweeps).

    Returns RunResult. Raises NnctlError for bad input and ExperimentFailed when training
    raised (the folder then holds status failed and the traceback).
    """
    config = resolve_paths(config, base_dir)
    folder = None
    if resume is not None:
        folder = _resumable(resume, config)
    data_rng, rng = generators(config.seed)
    if splits is None:
        splits = load_dataset(
            config.data, data_rng, data_dir=data_dir, cache_dir=cache_dir, progress=not quiet
        )
    if folder is None:
        folder = RunFolder(
            run_dir if run_dir is not None else create_run_dir(runs_dir, config.name)
        )
        folder.plots.mkdir(parents=True, exist_ok=True)
        folder.write_config(to_yaml(config))
        folder.update_summary(
            name=config.name,
            status="running",
            seed=config.seed,
            model=config.model.type,
            started=time.time(),
            **environment(),
        )
    start = time.time()
    with _file_logging(folder):
        log.info("run folder %s", folder.path)
        try:
            if config.model.type == "knn":
                result = _run_knn(config, splits, folder)
            else:
                result = _run_mlp(config, splits, folder, rng, quiet, resume is not None)
        except NnctlError as err:
            _fail(folder, err)
            raise
        except Exception as err:
            _fail(folder, err)
            raise ExperimentFailed(
                f"the run failed ({type(err).__name__}: {err}); see {folder.log_path}"
            ) from err
    result.seconds = time.time() - start
    folder.update_summary(
        seconds=folder.read_summary().get("seconds", 0) + result.seconds, finished=time.time()
    )
    if run_dir is None:
        update_latest(folder.path.parent, folder.path)
    return result


def _resumable(resume, config):
    folder = RunFolder.open(resume)
    status = folder.read_summary().get("status")
    if status in ("completed", "diverged"):
        raise RunError(
            f"{folder.path} has already finished (status {status}); there is nothing to resume"
        )
    if not folder.checkpoint_path.is_file():
        raise RunError(
            f"{folder.path} has no checkpoint.npz to resume from (it stopped in its first epoch)"
        )
    differences = config_differences(folder.read_config().model_dump(), config.model_dump())
    if differences:
        raise RunError(f"the config differs from the run being resumed: {', '.join(differences)}")
    return folder


def _fail(folder, err):
    log.error("run failed:\n%s", "".join(traceback.format_exception(err)))
    folder.update_summary(
        status="failed", error=f"{type(err).__name__}: {err}", finished=time.time()
    )


@contextmanager
def _file_logging(folder):
    """Copy nnctl's log records into the run's log.txt while the run lasts."""
    handler = logging.FileHandler(folder.log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("nnctl")
    logger.addHandler(handler)
    previous = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()


@contextmanager
def _stop_on_signals(solver):
    """SIGINT / SIGTERM ask the Solver to stop after its current step (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        log.warning("received %s: stopping after this step", signal.Signals(signum).name)
        solver.request_stop()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _run_mlp(config, splits, folder, rng, quiet, resuming):
    model = build_model(config.model.model_dump(), splits.input_dim, splits.num_classes, seed=rng)
    train = config.train
    optim_config = {"learning_rate": train.learning_rate}
    if train.momentum is not None:
        optim_config["momentum"] = train.momentum
    augment = make_augmenter(
        config.data.augment, splits.image_shape, "channels_first" in splits.preprocess
    )
    solver = Solver(
        model,
        {
            "X_train": splits.X_train,
            "y_train": splits.y_train,
            "X_val": splits.X_val,
            "y_val": splits.y_val,
        },
        update_rule=train.optimizer,
        optim_config=optim_config,
        lr_decay=train.lr_decay,
        batch_size=train.batch_size,
        num_epochs=train.epochs,
        num_train_samples=train.num_train_samples,
        num_val_samples=train.num_val_samples,
        verbose=not quiet,
        rng=rng,
        early_stopping=train.early_stopping,
        augment=augment,
        callbacks=[RunRecorder(folder)],
    )
    if resuming:
        solver.load_checkpoint(folder.checkpoint_path)
        folder.truncate_metrics(solver.iteration)
        log.info("resuming at epoch %d, iteration %d", solver.epoch, solver.iteration)
    with _stop_on_signals(solver):
        status = solver.train()

    summary_status = SUMMARY_STATUS[status]
    result = RunResult(
        run_dir=folder.path,
        status=summary_status,
        best_val_acc=_finite(solver.best_val_acc),
        train_acc=solver.train_acc_history[-1] if solver.train_acc_history else None,
        val_acc=_finite(solver.val_acc_history[-1]) if solver.val_acc_history else None,
        epochs=solver.epoch,
        stop_reason=status,
    )
    if status == INTERRUPTED:
        solver.save_checkpoint(folder.checkpoint_path)
        folder.update_summary(status="interrupted", epochs=solver.epoch, iteration=solver.iteration)
        return result
    _save_model(folder, model, splits)
    _plot_run(folder, solver, model, splits)
    folder.update_summary(
        status=summary_status,
        stop_reason=status,
        diverged_at=solver.diverged_at,
        best_val_acc=result.best_val_acc,
        best_epoch=solver.best_epoch,
        train_acc=result.train_acc,
        val_acc=result.val_acc,
        epochs=solver.epoch,
        iterations=solver.iteration,
    )
    return result


def _finite(value):
    return (
        None
        if value is None or (isinstance(value, float) and (math.isnan(value) or value < 0))
        else value
    )


def _run_knn(config, splits, folder):
    X_train, X_val = flatten(splits.X_train), flatten(splits.X_val)
    ks = config.model.k if isinstance(config.model.k, list) else [config.model.k]
    model = KNearestNeighbor(k=ks[0], metric=config.model.metric)
    extra = {}
    if len(ks) > 1:
        cv = model.cross_validate(
            X_train, splits.y_train, ks, num_folds=config.model.folds, metric=config.model.metric
        )
        model.k = best_k(cv)
        extra["cross_validation"] = {str(k): v for k, v in cv.items()}
        for k, accs in cv.items():
            folder.append_metrics({"k": k, "fold_acc": accs, "mean_acc": float(np.mean(accs))})
        viz.plot_knn_cv(
            cv, folder.plots / "knn_cv.png", title=f"kNN cross-validation ({config.name})"
        )
        log.info(
            "cross-validation chose k=%d (mean accuracy %.4f)", model.k, float(np.mean(cv[model.k]))
        )
    model.train(X_train, splits.y_train)
    val_acc = float(np.mean(model.predict(X_val) == splits.y_val)) if len(X_val) else None
    folder.append_metrics({"k": model.k, "val_acc": val_acc})
    _save_model(folder, model, splits)
    folder.update_summary(
        status="completed", k=model.k, best_val_acc=val_acc, val_acc=val_acc, **extra
    )
    log.info(
        "kNN with k=%d: validation accuracy %s",
        model.k,
        "n/a" if val_acc is None else f"{val_acc:.4f}",
    )
    return RunResult(
        run_dir=folder.path,
        status="completed",
        best_val_acc=val_acc,
        val_acc=val_acc,
        extra={"k": model.k},
    )


def _save_model(folder, model, splits):
    folder.save_model(
        model.spec(),
        model_to_arrays(model),
        splits.preprocess,
        states_to_arrays(splits.preprocess, splits.preprocess_state),
        {"class_names": splits.class_names, "image_shape": splits.image_shape},
    )


def _plot_run(folder, solver, model, splits):
    viz.plot_loss(solver.loss_history, folder.plots / "loss.png")
    viz.plot_accuracy(
        solver.train_acc_history, solver.val_acc_history, folder.plots / "accuracy.png"
    )
    plot_model_weights(
        model,
        splits.image_shape,
        splits.class_names,
        splits.preprocess,
        folder.plots / "weights.png",
    )


def plot_model_weights(model, image_shape, class_names, preprocess, path, layer=1):
    """The weight picture of layer `layer` (1-based) of an MLP."""
    key = f"W{layer}"
    if key not in model.params:
        raise RunError(f"the model has no layer {layer} (it has {model.num_layers})")
    W = model.params[key].astype(np.float32)
    return viz.plot_weights(
        W,
        path,
        image_shape=tuple(image_shape) if (image_shape and layer == 1) else None,
        class_names=class_names,
        channels_first="channels_first" in preprocess,
        linear=model.num_layers == 1,
    )


# ---------------------------------------------------------------------------------------------
# Evaluation


def load_run(run_dir):
    """(folder, config, model, info, preprocess states) of a saved run."""
    folder = RunFolder.open(resolve_run(run_dir))
    config = folder.read_config()
    info, model_arrays, preprocess_arrays = folder.load_model()
    states = states_from_arrays(info["preprocess"], preprocess_arrays)
    return folder, config, model_from_arrays(info["spec"], model_arrays), info, states


def resolve_run(run_dir):
    """A run folder, or the best trial of a sweep folder."""
    run_dir = Path(run_dir)
    best = run_dir / "best"
    if (run_dir / "sweep.yaml").is_file():
        if not best.exists():
            raise RunError(f"sweep {run_dir} has no best trial yet")
        return best.resolve()
    return run_dir


def evaluate_run(run_dir, split="test", data_dir=None, cache_dir=None):
    """Score a saved model on a split; write eval.json and plots/confusion.png (and
    misclassified.png for images); add test_acc to summary.json. Returns EvalResult."""
    if split not in ("test", "val"):
        raise RunError(f"split must be test or val, got {split!r}")
    folder, config, model, info, states = load_run(run_dir)
    splits = load_dataset(
        config.data,
        generators(config.seed)[0],
        data_dir=data_dir,
        cache_dir=cache_dir,
        preprocess_state=states,
    )
    X, y = (splits.X_test, splits.y_test) if split == "test" else (splits.X_val, splits.y_val)
    if len(X) == 0:
        raise RunError(
            f"the {split} split of this run's data is empty (see data.split in its config)"
        )
    X_in = flatten(X) if isinstance(model, KNearestNeighbor) else X
    pred = model.predict(X_in)
    names = info.get("class_names") or splits.class_names
    C = len(names)
    confusion = np.bincount(y * C + pred, minlength=C * C).reshape(C, C)
    per_class = {
        names[c]: (float(confusion[c, c] / confusion[c].sum()) if confusion[c].sum() else None)
        for c in range(C)
    }
    accuracy = float(np.mean(pred == y))
    suffix = "" if split == "test" else "_val"
    plots = [
        viz.plot_confusion(
            confusion, names, folder.plots / f"confusion{suffix}.png", title=f"Confusion ({split})"
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
    report = json.loads(folder.eval_path.read_text()) if folder.eval_path.is_file() else {}
    report[split] = {
        "accuracy": accuracy,
        "examples": int(len(y)),
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
        "class_names": names,
    }
    atomic.write_text(folder.eval_path, json.dumps(report, indent=2) + "\n")
    folder.update_summary(**{f"{split}_acc_eval" if split == "val" else "test_acc": accuracy})
    return EvalResult(folder.path, split, accuracy, per_class, confusion, names, plots)
