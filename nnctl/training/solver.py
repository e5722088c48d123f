"""Minibatch training with the course's Solver API, plus shuffled epochs, early stopping,
augmentation, a divergence guard, callbacks and exact checkpoints.

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, batch_size=200, num_epochs=10, rng=rng)
    solver.train()

`data` holds X_train, y_train, X_val, y_val. The model follows nnctl.models.TrainableModel
(params, reg, rng, loss, state_arrays, load_state_arrays). The Solver knows no run folders:
it reports through callbacks, and its checkpoint is a dict of arrays (state_arrays /
load_state) that the caller stores where it likes.
"""

import copy
import json
import logging
import math
import time

import numpy as np

from nnctl import atomic
from nnctl.errors import RunError
from nnctl.nn.optim import UPDATE_RULES
from nnctl.status import Status

log = logging.getLogger(__name__)

EARLY_STOPPING = "early_stopping"  # the stop_reason of a run that stopped on its patience
# The keys of a checkpoint's meta record; anything else was written by another version.
CHECKPOINT_META = {
    "epoch", "iteration", "batch_in_epoch", "best_val_acc", "best_score", "best_epoch",
    "first_loss", "update_rule", "optim_scalars", "rng", "model_rng", "stop_reason", "schedule",
}  # fmt: skip
# The Solver's records of training, saved with every checkpoint.
HISTORIES = ("loss_history", "train_acc_history", "val_acc_history", "lr_history", "epoch_seconds")


class Callback:
    """Receives the Solver's events; every method is optional. The run folder is one."""

    def on_train_start(self, solver):
        pass

    def on_step(self, solver, loss):
        pass

    def on_epoch_end(self, solver, record):
        pass

    def on_train_end(self, solver):
        pass


class Solver:
    """Trains a model on data with an update rule from nnctl.nn.optim.

    Inputs (keyword-only after data; anything unknown raises TypeError):
    - update_rule: a name in UPDATE_RULES (sgd, sgd_momentum, rmsprop, adam, adagrad)
    - optim_config: hyperparameters of the rule (learning_rate, ...), copied per parameter
    - lr_decay: learning rates are multiplied by it after every epoch
    - schedule: a nnctl.training.schedules.Schedule (or None): before every update the rate
      is optim_config's learning_rate times schedule.factor(iteration, iterations_per_epoch,
      num_epochs * iterations_per_epoch); it is stored in checkpoints, which refuse another
      schedule. Not together with lr_decay.
    - batch_size, num_epochs: each epoch is one shuffled pass over the training set
    - num_train_samples, num_val_samples: accuracy is measured on that many examples
      (None: all of them)
    - print_every: log the loss every this many iterations (when verbose)
    - verbose: log the loss every print_every iterations (epoch lines are always logged)
    - progress: show a progress bar (only on a terminal, the caller decides)
    - rng: numpy Generator (or seed) for shuffling and augmentation
    - early_stopping: stop after this many epochs without a new best validation accuracy
    - augment: a function (X_batch, rng) -> X_batch applied to training batches
    - callbacks: Callback objects that receive events
    - divergence_factor: stop when the loss exceeds this multiple of the first loss (None: only
      NaN/inf stop a run)
    - pause_at: stop after this many epochs (if fewer than num_epochs) with status paused,
      leaving the state to continue from exactly (a sweep's scheduler compares trials there).
      num_epochs stays the length of the whole run (a schedule spans all of it), so training
      paused and continued gives the numbers of training straight through.

    After train(): loss_history (one per iteration), train_acc_history and val_acc_history (one
    per epoch; None where there is no validation data), lr_history, best_val_acc (None without
    validation data), best_epoch, best_params (restored into the model unless interrupted),
    status (a Status: completed, diverged, interrupted or paused), stop_reason (early_stopping when
    the patience ran out) and, if diverged, diverged_at (the iteration).
    """

    def __init__(
        self,
        model,
        data,
        *,
        update_rule="sgd",
        optim_config=None,
        lr_decay=1.0,
        batch_size=100,
        num_epochs=10,
        num_train_samples=1000,
        num_val_samples=None,
        print_every=10,
        verbose=True,
        progress=False,
        rng=None,
        early_stopping=None,
        augment=None,
        callbacks=(),
        divergence_factor=1e3,
        pause_at=None,
        schedule=None,
    ):
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule_name = update_rule
        self.update_rule = UPDATE_RULES[update_rule]
        self.optim_config = dict(optim_config or {})
        self.lr_decay = lr_decay
        self.batch_size = batch_size
        self.num_epochs = num_epochs
        self.num_train_samples = num_train_samples
        self.num_val_samples = num_val_samples
        self.print_every = print_every
        self.verbose = verbose
        self.progress = progress
        self.rng = np.random.default_rng(rng)  # a Generator is shared, not copied
        self.early_stopping = early_stopping
        self.augment = augment
        self.callbacks = list(callbacks)
        self.divergence_factor = divergence_factor
        self.pause_at = pause_at
        self.schedule = schedule
        self.base_lr = float(self.optim_config.get("learning_rate", 1e-2))
        if schedule is not None and lr_decay != 1.0:
            raise RunError("give a learning-rate schedule or lr_decay, not both")
        if len(self.X_train) == 0:
            raise RunError("the training split is empty")
        self._reset()

    def _reset(self):
        self.epoch = 0  # completed epochs
        self.iteration = 0  # completed updates
        self.batch_in_epoch = 0  # updates done in the current, unfinished epoch
        self.perm = None  # the current epoch's order of training examples
        self.status = None
        self.stop_reason = None
        self.diverged_at = None
        self.best_val_acc = None
        # What picks the best epoch: the validation score, else the training score.
        self.best_score = -math.inf if self.model.metric.higher_is_better else math.inf
        self.best_epoch = 0
        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.lr_history = []
        self.epoch_seconds = []
        self.first_loss = None
        self.optim_configs = {name: dict(self.optim_config) for name in self.model.params}
        self._stop_requested = False

    @property
    def iterations_per_epoch(self):
        return max(1, math.ceil(len(self.X_train) / self.batch_size))

    @property
    def learning_rate(self):
        """The current learning rate (the rules' default if none was given)."""
        config = next(iter(self.optim_configs.values()), {})
        return float(config.get("learning_rate", 1e-2))

    def request_stop(self):
        """Finish the current step, then stop with status interrupted (for Ctrl-C)."""
        self._stop_requested = True

    # -- training ------------------------------------------------------------------------

    def _step(self, idx):
        """One update on the training examples idx. Returns the loss (float); when the loss
        is not usable (see _loss_ok) the parameters are left untouched and status is set."""
        if self.schedule is not None:  # the rate of this very update (per step)
            factor = self.schedule.factor(
                self.iteration,
                self.iterations_per_epoch,
                self.num_epochs * self.iterations_per_epoch,
            )
            for config in self.optim_configs.values():
                config["learning_rate"] = self.base_lr * factor
        X_batch = self.X_train[idx]
        if self.augment is not None:
            X_batch = self.augment(X_batch, self.rng)
        loss, grads = self.model.loss(X_batch, self.y_train[idx])
        if self.first_loss is None:
            self.first_loss = loss
        if not self._loss_ok(loss):
            return loss
        for name, w in self.model.params.items():
            self.model.params[name], self.optim_configs[name] = self.update_rule(
                w, grads[name], self.optim_configs[name]
            )
        return loss

    def train(self):
        """Run (or continue, after load_checkpoint) the optimisation. Returns self.status."""
        from tqdm import tqdm

        for cb in self.callbacks:
            cb.on_train_start(self)
        n = len(self.X_train)
        with tqdm(
            total=self.num_epochs * self.iterations_per_epoch,
            initial=self.iteration,
            disable=not self.progress,
            unit="it",
            leave=False,
        ) as bar:
            last = self.num_epochs if self.pause_at is None else min(self.pause_at, self.num_epochs)
            while self.epoch < last and self.status is None:
                start = time.perf_counter()
                if self.perm is None:
                    self.perm = self.rng.permutation(n)
                while self.batch_in_epoch < self.iterations_per_epoch:
                    lo = self.batch_in_epoch * self.batch_size
                    loss = self._step(self.perm[lo : lo + self.batch_size])
                    if self.status is Status.DIVERGED:
                        break
                    self.loss_history.append(loss)
                    self.iteration += 1
                    self.batch_in_epoch += 1
                    bar.update()
                    if self.progress and self.iteration % self.print_every == 0:
                        bar.set_postfix(
                            loss=f"{loss:.4f}", lr=f"{self.learning_rate:.2e}", val=self._last_val()
                        )
                    for cb in self.callbacks:
                        cb.on_step(self, loss)
                    if self._stop_requested:
                        self.status = Status.INTERRUPTED
                        break
                if self.status is not None:
                    break
                self._end_epoch(time.perf_counter() - start)
                if self._stop_requested and self.status is None:  # asked during the epoch's end
                    self.status = Status.INTERRUPTED
        if self.status is None:
            self.status = Status.COMPLETED if self.epoch >= self.num_epochs else Status.PAUSED
        if self.status not in (Status.INTERRUPTED, Status.PAUSED):  # they continue from here
            self.restore_best()
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.status

    def _loss_ok(self, loss):
        """False (and status diverged) for a NaN/inf loss or one that exploded far above the
        first loss."""
        exploded = self.divergence_factor and loss > self.divergence_factor * max(
            self.first_loss, 1e-3
        )
        if math.isfinite(loss) and not exploded:
            return True
        self.status = Status.DIVERGED
        self.diverged_at = self.iteration + 1
        log.warning("loss became %s at iteration %d: the run diverged", loss, self.diverged_at)
        return False

    def _end_epoch(self, seconds):
        self.epoch += 1
        self.batch_in_epoch = 0
        self.perm = None
        lr = self.learning_rate
        for config in self.optim_configs.values():
            config["learning_rate"] = config.get("learning_rate", 1e-2) * self.lr_decay
        train_acc = self.measure(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.measure(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self.lr_history.append(lr)
        self.epoch_seconds.append(seconds)
        # Without validation data the best epoch is the one with the best training score
        # (best_val_acc then stays None).
        score = val_acc if val_acc is not None else train_acc
        if self._better(score, self.best_score):
            self.best_score = score
            self.best_val_acc = val_acc
            self.best_epoch = self.epoch
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        record = self.epoch_record(self.epoch - 1)
        # Always logged: the console shows it unless quiet, a run's log.txt keeps it anyway.
        name = self.model.metric.label
        log.info(
            "epoch %d/%d  loss %.4f  train %s %.4f  val %s %s  lr %.2e  (%.1fs)",
            self.epoch, self.num_epochs, record["loss"], name, train_acc, name,
            "-" if val_acc is None else f"{val_acc:.4f}", lr, seconds,
        )  # fmt: skip
        for cb in self.callbacks:
            cb.on_epoch_end(self, record)
        if self.early_stopping and self.epoch - self.best_epoch >= self.early_stopping:
            self.status = Status.COMPLETED
            self.stop_reason = EARLY_STOPPING
            log.info(
                "no better validation accuracy for %d epochs: stopping early", self.early_stopping
            )

    def _better(self, score, best):
        if self.model.metric.higher_is_better:
            return score > best
        return score < best

    def epoch_record(self, i):
        """Epoch i (0-based) as a row: epoch, lr, train_<metric>, val_<metric> (acc for
        classifiers, error for autoencoders), mean loss, seconds."""
        per_epoch = self.iterations_per_epoch
        metric = self.model.metric.name
        return {
            "epoch": i + 1,
            "lr": self.lr_history[i],
            f"train_{metric}": self.train_acc_history[i],
            f"val_{metric}": self.val_acc_history[i],
            "loss": float(np.mean(self.loss_history[i * per_epoch : (i + 1) * per_epoch])),
            "seconds": self.epoch_seconds[i],
        }

    def epoch_records(self):
        """Every finished epoch as a row (the run folder's history.csv)."""
        return [self.epoch_record(i) for i in range(self.epoch)]

    def _last_val(self):
        last = self.val_acc_history[-1] if self.val_acc_history else None
        return "-" if last is None else f"{last:.3f}"

    def restore_best(self):
        """Put the best parameters seen so far back into the model."""
        self.model.params.update({k: v.copy() for k, v in self.best_params.items()})

    def measure(self, X, y, num_samples=None):
        """The model's metric (model.score: accuracy for classifiers) on X, or on a subsample
        of num_samples examples drawn as check_accuracy draws it. None when X is empty."""
        if len(X) == 0:
            return None
        X, y = self._subsample(X, y, num_samples)
        return float(self.model.score(X, y))

    def _subsample(self, X, y, num_samples):
        """num_samples examples of (X, y) when there are more, drawn from a Generator seeded
        by the iteration count: reproducible, and the training randomness is left alone."""
        if num_samples is not None and len(X) > num_samples:
            idx = np.random.default_rng(self.iteration).choice(len(X), num_samples, replace=False)
            X, y = X[idx], y[idx]
        return X, y

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of X (N, ...) the model classifies as y, in test mode.

        With num_samples < N, a subsample is scored; it is drawn from a Generator seeded by the
        iteration count, so it is reproducible and leaves the training randomness untouched.
        None when X is empty (there is no accuracy to report).
        """
        if len(X) == 0:
            return None
        X, y = self._subsample(X, y, num_samples)
        N = len(X)
        correct = 0
        for start in range(0, N, batch_size):
            scores = self.model.loss(X[start : start + batch_size])
            correct += int(np.sum(np.argmax(scores, axis=1) == y[start : start + batch_size]))
        return correct / N

    # -- checkpoints ---------------------------------------------------------------------

    def state_arrays(self):
        """Everything needed to continue exactly where training stands, as named arrays."""
        arrays = {f"param/{k}": v for k, v in self.model.params.items()}
        arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        arrays.update({f"model_state/{k}": v for k, v in self.model.state_arrays().items()})
        scalars = {}
        for name, config in self.optim_configs.items():
            scalars[name] = {}
            for key, value in config.items():
                if isinstance(value, np.ndarray):
                    arrays[f"optim/{name}/{key}"] = value
                else:
                    scalars[name][key] = value
        if self.perm is not None:
            arrays["perm"] = self.perm
        for key in HISTORIES:  # None (no validation data) is stored as NaN
            arrays[key] = np.array(getattr(self, key), dtype=np.float64)
        meta = {
            "epoch": self.epoch,
            "iteration": self.iteration,
            "batch_in_epoch": self.batch_in_epoch,
            "best_val_acc": self.best_val_acc,
            "best_score": None if math.isinf(self.best_score) else self.best_score,
            "best_epoch": self.best_epoch,
            "first_loss": self.first_loss,
            "update_rule": self.update_rule_name,
            "optim_scalars": scalars,
            "rng": self.rng.bit_generator.state,
            "stop_reason": self.stop_reason,
            "schedule": None if self.schedule is None else self._schedule_meta(),
        }
        if self.model.rng is not None:  # draws dropout masks
            meta["model_rng"] = self.model.rng.bit_generator.state
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def load_state(self, arrays):
        """Restore the state state_arrays() returned, so train() continues exactly.

        Raises RunError (without touching the model) when the arrays do not fit this model
        and update rule, or hold keys this version does not write (a newer nnctl's file).
        """
        meta = self._checked_meta(arrays)
        params = {}
        for prefix in ("param/", "best/"):
            for name, value in self.model.params.items():
                saved = arrays.get(prefix + name)
                if saved is None or saved.shape != value.shape:
                    got = "missing" if saved is None else f"shaped {saved.shape}"
                    raise RunError(f"{prefix}{name} is {got}; the model needs {value.shape}")
                params[prefix + name] = saved.astype(value.dtype)
        self._reset()
        for name in self.model.params:
            self.model.params[name] = params["param/" + name]
            self.best_params[name] = params["best/" + name]
        self.model.load_state_arrays(
            {
                k.removeprefix("model_state/"): v
                for k, v in arrays.items()
                if k.startswith("model_state/")
            }
        )
        for name in self.optim_configs:
            config = copy.deepcopy(meta["optim_scalars"].get(name, {}))
            for key, value in arrays.items():
                if key.startswith(f"optim/{name}/"):
                    config[key.rpartition("/")[2]] = value
            self.optim_configs[name] = config
        self.perm = arrays.get("perm")
        for key in HISTORIES:
            values = [float(v) for v in arrays[key]]
            if key in ("train_acc_history", "val_acc_history"):
                values = [None if math.isnan(v) else v for v in values]
            setattr(self, key, values)
        for key in ("epoch", "iteration", "batch_in_epoch", "best_val_acc", "best_epoch"):
            setattr(self, key, meta[key])
        self.first_loss = meta["first_loss"]
        self.stop_reason = meta.get("stop_reason")
        if meta["best_score"] is not None:
            self.best_score = meta["best_score"]
        self.rng.bit_generator.state = meta["rng"]
        if meta.get("model_rng") and self.model.rng is not None:
            self.model.rng.bit_generator.state = meta["model_rng"]

    def _checked_meta(self, arrays):
        if "meta" not in arrays:
            raise RunError("it has no meta record")
        try:
            meta = json.loads(str(arrays["meta"]))
        except ValueError as err:
            raise RunError(f"its meta record is not JSON ({err})") from None
        if not isinstance(meta, dict):
            raise RunError("its meta record is not a JSON object")
        unknown = sorted(set(meta) - CHECKPOINT_META)
        if unknown:
            raise RunError(f"it has keys this nnctl does not know (a newer version?): {unknown}")
        missing = sorted(CHECKPOINT_META - {"model_rng", "stop_reason", "schedule"} - set(meta))
        if missing or any(key not in arrays for key in HISTORIES):
            raise RunError(f"it lacks {missing or 'its histories'}")
        if meta["update_rule"] != self.update_rule_name:
            saved, now = meta["update_rule"], self.update_rule_name
            raise RunError(f"it was made with update rule {saved}, not {now}")
        now = None if self.schedule is None else self._schedule_meta()
        if meta.get("schedule") != now:
            raise RunError(f"it was made with schedule {meta.get('schedule')}, not {now}")
        return meta

    def _schedule_meta(self):
        """The schedule and its base rate as stored in a checkpoint (JSON-like)."""
        return {**self.schedule.spec(), "base_lr": self.base_lr}

    def save_checkpoint(self, path):
        """Write state_arrays() to path atomically (an .npz without pickles)."""
        atomic.save_npz(path, self.state_arrays())

    def load_checkpoint(self, path):
        """Restore the state save_checkpoint wrote to path; RunError naming the file when it
        cannot be read or does not fit."""
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
            self.load_state(arrays)
        except RunError as err:
            raise RunError(f"checkpoint {path}: {err}") from None
        except Exception as err:  # a damaged file: zip, npy header or JSON errors
            raise RunError(f"checkpoint {path} is damaged ({type(err).__name__}: {err})") from None
