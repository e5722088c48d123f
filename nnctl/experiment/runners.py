"""What each model type does in a run: the one place a model type is dispatched on.

nnctl.experiment.dispatch.RUNNERS maps every model type to a job class. Constructing a job does
everything that can fail on the user's input — building the model, the optimiser and the
augmentation — and `restore` reads a checkpoint to resume from, both without writing
anything; `run` then works in a run folder that exists by then.
"""

import logging
import time

import numpy as np

from nnctl import signals, viz
from nnctl.datasets import features
from nnctl.datasets.augment import make_augmenter
from nnctl.datasets.preprocess import flatten, states_to_arrays
from nnctl.errors import RunError
from nnctl.experiment.lifecycle import RunResult
from nnctl.experiment.scoring import score_classifier
from nnctl.models import KNearestNeighbor, build_model, model_to_arrays
from nnctl.models.knn import best_k
from nnctl.status import Status
from nnctl.training.live import LIVE_LOGGERS
from nnctl.training.schedules import Schedule
from nnctl.training.solver import Callback, Solver
from nnctl.training.threads import ThreadSetting

log = logging.getLogger(__name__)


class RunRecorder(Callback):
    """Writes the Solver's events into a run folder: metrics.jsonl as training goes, and after
    every epoch history.csv, checkpoint.npz and the summary's progress fields."""

    def __init__(self, folder, log_every=1):
        self.folder = folder
        self.log_every = log_every

    def on_step(self, solver, loss):
        if solver.iteration % self.log_every == 0:
            epoch = solver.epoch + solver.batch_in_epoch / solver.iterations_per_epoch
            self.folder.append_metrics(
                {
                    "step": solver.iteration,
                    "epoch": round(epoch, 4),
                    "loss": loss,
                    "time": time.time(),
                }
            )

    def on_epoch_end(self, solver, record):
        self.folder.append_metrics({"step": solver.iteration, **record, "time": time.time()})
        self.folder.write_history(solver.epoch_records())
        self.folder.write_checkpoint(solver.state_arrays())
        best = f"best_val_{solver.model.metric.name}"  # best_val_acc, or best_val_error
        self.folder.update_summary(
            epochs=solver.epoch,
            total_epochs=solver.num_epochs,
            best_epoch=solver.best_epoch,
            updated=time.time(),
            **{best: solver.best_val_acc},
        )
        signals.fault_point("epoch")


class StopFile(Callback):
    """Asks the Solver to stop once `path` exists (how a sweep stops its trials in any worker,
    local or remote). Looks at most every `interval` seconds."""

    def __init__(self, path, interval=0.5):
        self.path = path
        self.interval = interval
        self.checked = 0.0

    def on_step(self, solver, loss):
        now = time.monotonic()
        if now - self.checked >= self.interval:
            self.checked = now
            if self.path.exists():
                solver.request_stop()


def save_model(folder, model, splits, **meta):
    folder.save_model(
        model.spec(),
        model_to_arrays(model),
        splits.preprocess,
        {
            **states_to_arrays(splits.preprocess, splits.preprocess_state),
            **features.states_to_arrays(splits.features, splits.feature_state),
        },
        {"class_names": splits.class_names, "image_shape": splits.image_shape, **meta},
    )


def optim_settings(train):
    """The update rule's optim_config from the config's train section."""
    optim_config = {"learning_rate": train.learning_rate}
    if train.momentum is not None:
        optim_config["momentum"] = train.momentum
    if train.weight_decay is not None:
        optim_config["weight_decay"] = train.weight_decay
    return optim_config


def schedule_of(train):
    """The Schedule of the config's train section, or None."""
    if train.schedule is None:
        return None
    return Schedule(**train.schedule.model_dump())


def plot_model_weights(model, image_shape, class_names, preprocess, path, layer=1, name=None):
    """The weight picture of layer `layer` (1-based) of an MLP; name (the run's) in its title."""
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
        layer=layer,
        output=layer == model.num_layers,
        name=name,
    )


# -- nets ---------------------------------------------------------------------------------


class NetJob:
    """A net trained by the Solver."""

    score = staticmethod(score_classifier)  # what `nnctl eval` measures

    def __init__(
        self, config, splits, rng, *, verbose, progress, stop_file, pause_at=None, threads=None,
        plots=True,
    ):  # fmt: skip
        self.config, self.splits = config, splits
        self.plots = plots  # False: drawn on demand (nnctl report, viz-weights), as sweeps do
        # BLAS threads: a fixed count, or auto (tuned on the training steps); recorded.
        self.threads = (threads or ThreadSetting()).callback()
        self.model = build_model(
            config.model.model_dump(), splits.input_dim, splits.num_classes, seed=rng
        )
        train = config.train
        optim_config = optim_settings(train)
        augment = make_augmenter(
            config.data.augment, splits.image_shape, "channels_first" in splits.preprocess
        )
        self.solver = Solver(
            self.model,
            {
                "X_train": splits.X_train,
                "y_train": splits.y_train,
                "X_val": splits.X_val,
                "y_val": splits.y_val,
            },
            update_rule=train.optimizer,
            optim_config=optim_config,
            lr_decay=train.lr_decay,
            schedule=schedule_of(train),
            batch_size=train.batch_size,
            num_epochs=train.epochs,
            num_train_samples=train.num_train_samples,
            num_val_samples=train.num_val_samples,
            verbose=verbose,
            progress=progress,
            rng=rng,
            early_stopping=train.early_stopping,
            augment=augment,
            callbacks=[self.threads] + ([StopFile(stop_file)] if stop_file is not None else []),
            pause_at=pause_at,
        )
        self.live_loggers = {name: LIVE_LOGGERS[name] for name in train.log_to}
        for logger in self.live_loggers.values():
            logger.require()  # a missing package is found before the run folder is made
        self.resumed = False

    def restore(self, folder):
        """Continue from folder's checkpoint; RunError naming the file if it does not fit."""
        arrays = folder.read_checkpoint()
        try:
            self.solver.load_state(arrays)
        except RunError as err:
            raise RunError(f"{folder.checkpoint_path} cannot be resumed from: {err}") from None
        self.resumed = True

    def run(self, folder):
        solver = self.solver
        solver.callbacks.append(RunRecorder(folder))
        solver.callbacks += [make(folder.path / name) for name, make in self.live_loggers.items()]
        if self.resumed:
            folder.truncate_metrics(solver.iteration)
            log.info("resuming at epoch %d, iteration %d", solver.epoch, solver.iteration)
        with signals.graceful(solver.request_stop):
            status = solver.train()
        signals.fault_point("trained")
        if status in (Status.INTERRUPTED, Status.PAUSED):
            folder.write_checkpoint(solver.state_arrays())  # exactly where it stopped
            solver.restore_best()  # what model.npz and the plots show
        fields = {}
        if solver.best_epoch > 0:  # there are parameters worth saving
            save_model(folder, self.model, self.splits, epoch=solver.best_epoch)
            fields["model_epoch"] = solver.best_epoch
        if self.plots:
            self._plot(folder)
        signals.fault_point("saved")
        result = RunResult(
            run_dir=folder.path,
            status=status,
            best_val_acc=solver.best_val_acc,
            train_acc=solver.train_acc_history[-1] if solver.train_acc_history else None,
            val_acc=solver.val_acc_history[-1] if solver.val_acc_history else None,
            epochs=solver.epoch,
            stop_reason=solver.stop_reason,
            metric=self.model.metric.label,
        )
        folder.update_summary(
            stop_reason=solver.stop_reason,
            diverged_at=solver.diverged_at,
            best_epoch=solver.best_epoch,
            epochs=solver.epoch,
            iterations=solver.iteration,
            threads=self.threads.record(),
            **self.summary_fields(result),
            **fields,
        )
        return result

    def summary_fields(self, result):
        """The metric's fields of summary.json (a classifier's accuracies)."""
        return {
            "best_val_acc": result.best_val_acc,
            "train_acc": result.train_acc,
            "val_acc": result.val_acc,
        }

    @staticmethod
    def picture_weights(saved, out, layer):
        """`nnctl viz-weights`: the weight picture of layer `layer` of a saved net."""
        info = saved.info
        return plot_model_weights(
            saved.model, info.get("image_shape"), info.get("class_names"), info["preprocess"],
            out, layer, name=saved.config.name,
        )  # fmt: skip

    def _plot(self, folder):
        solver, name = self.solver, self.config.name
        best_step = solver.best_epoch * solver.iterations_per_epoch
        viz.plot_loss(
            solver.loss_history,
            folder.plots / "loss.png",
            title=f"Training loss ({name})",
            best_step=min(best_step, len(solver.loss_history)) or None,
        )
        if solver.train_acc_history:
            viz.plot_accuracy(
                solver.train_acc_history,
                solver.val_acc_history,
                folder.plots / "accuracy.png",
                title=f"Accuracy ({name})",
                best_epoch=solver.best_epoch or None,
            )
        splits = self.splits
        plot_model_weights(
            self.model,
            splits.image_shape,
            splits.class_names,
            splits.preprocess,
            folder.plots / "weights.png",
            name=name,
        )


# -- k-nearest neighbours -------------------------------------------------------------------


class KnnJob:
    """kNN: cross-validate k if several are given, then memorise the training split."""

    score = staticmethod(score_classifier)

    @staticmethod
    def picture_weights(saved, out, layer):
        raise RunError(f"{saved.folder.path} is a kNN run: it has no learned weights to picture")

    def __init__(self, config, splits, rng, **options):
        self.config, self.splits = config, splits
        ks = config.model.k if isinstance(config.model.k, list) else [config.model.k]
        self.ks = ks
        self.model = KNearestNeighbor(k=ks[0], metric=config.model.metric)
        self.threads = options.get("threads") or ThreadSetting()

    def restore(self, folder):
        raise RunError(
            f"{folder.path} is a kNN run: it has no checkpoint to resume from; run it again"
        )

    def run(self, folder):
        with self.threads.applied() as threads:
            result = self._run(folder)
        folder.update_summary(threads=threads)
        return result

    def _run(self, folder):
        config, splits, model = self.config, self.splits, self.model
        X_train, X_val = flatten(splits.X_train), flatten(splits.X_val)
        extra = {}
        if len(self.ks) > 1:
            cv = model.cross_validate(
                X_train, splits.y_train, self.ks, num_folds=config.model.folds,
                metric=config.model.metric,
            )  # fmt: skip
            model.k = best_k(cv)
            extra["cross_validation"] = {str(k): v for k, v in cv.items()}
            for k, accs in cv.items():
                folder.append_metrics({"k": k, "fold_acc": accs, "mean_acc": float(np.mean(accs))})
            viz.plot_knn_cv(
                cv, folder.plots / "knn_cv.png", title=f"kNN cross-validation ({config.name})"
            )
            log.info(
                "cross-validation chose k=%d (mean accuracy %.4f)",
                model.k,
                float(np.mean(cv[model.k])),
            )
        model.train(X_train, splits.y_train)
        val_acc = float(np.mean(model.predict(X_val) == splits.y_val)) if len(X_val) else None
        folder.append_metrics({"k": model.k, "val_acc": val_acc})
        save_model(folder, model, splits)
        folder.update_summary(k=model.k, best_val_acc=val_acc, val_acc=val_acc, **extra)
        log.info(
            "kNN with k=%d: validation accuracy %s",
            model.k,
            "-" if val_acc is None else f"{val_acc:.4f}",
        )
        return RunResult(
            run_dir=folder.path,
            status=Status.COMPLETED,
            best_val_acc=val_acc,
            val_acc=val_acc,
            extra={"k": model.k},
        )
