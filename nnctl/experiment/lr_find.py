"""`nnctl lr-find CONFIG`: the learning-rate range test (L. Smith, "Cyclical learning rates
for training neural networks", WACV 2017, section 3.3; the fast.ai learning-rate finder).

The config's model is trained from its initial weights with its optimiser, batch size and
augmentation while the learning rate grows exponentially from min_lr to max_lr over `steps`
updates: rate_t = min_lr * (max_lr / min_lr) ** (t / (steps - 1)). While it runs, an
exponential moving average of the loss (beta 0.98, bias-corrected) ends the test early once it
exceeds STOP_FACTOR times its minimum: past that point the rate is far too large.

Suggested rate: a tenth of the rate where the loss, averaged over a centred window of
`window(steps)` steps, is lowest (a centred average has no lag; the moving average's minimum
trails the loss's by many steps, which is a large factor of the rate). The loss still falls
fast at the suggested rate, and training at the minimum's own rate is at the edge of
diverging. The rate of the steepest descent of the averaged loss (against log rate, before its
minimum) is reported too.

The result is a run folder made through the same lifecycle as `nnctl train` (validate, then
create; a truthful status on every exit): config.yaml, summary.json (kind lr-find, the
suggestions), metrics.jsonl (step, lr, loss, ema), lr_find.csv (step, lr, loss, smoothed:
the centred average) and plots/lr_find.png.
"""

import csv
import io
import logging
import math
from dataclasses import asdict, dataclass

import numpy as np

from nnctl import atomic, signals, viz
from nnctl.config import check_against_data
from nnctl.datasets import load_dataset
from nnctl.datasets.augment import make_augmenter
from nnctl.errors import ConfigError
from nnctl.experiment.lifecycle import RunResult, execute
from nnctl.experiment.run import _take_folder, generators, resolve_paths
from nnctl.experiment.runners import optim_settings
from nnctl.models import MODEL_TYPES, build_model
from nnctl.runs import probe_writable, update_latest
from nnctl.status import Status
from nnctl.training.solver import Callback, Solver

log = logging.getLogger(__name__)

BETA = 0.98  # the moving average of the loss
STOP_FACTOR = 4.0  # stop once the averaged loss exceeds this multiple of its minimum
MIN_STEPS_BEFORE_STOP = 10  # the average is too young to judge before this


@dataclass(frozen=True)
class RangeTest:
    """The range test's rate as a schedule for the Solver: base rate min_lr times
    (max_lr / min_lr) ** (step / (steps - 1))."""

    min_lr: float
    max_lr: float
    steps: int

    def factor(self, step, steps_per_epoch, total_steps):
        return (self.max_lr / self.min_lr) ** (min(step, self.steps - 1) / (self.steps - 1))

    def spec(self):
        return {"type": "range_test", **asdict(self)}


class RangeRecorder(Callback):
    """Records (rate, loss) at every step and asks the Solver to stop after `steps` steps or
    once the moving average of the loss exploded."""

    def __init__(self, steps, folder=None):
        self.steps = steps
        self.folder = folder
        self.lrs, self.losses, self.ema = [], [], []
        self.finished = False  # the test ran to its end (not a Ctrl-C)
        self._average = 0.0

    def on_step(self, solver, loss):
        lr = solver.learning_rate
        self._average = BETA * self._average + (1 - BETA) * loss
        ema = self._average / (1 - BETA ** (len(self.losses) + 1))
        self.lrs.append(lr)
        self.losses.append(loss)
        self.ema.append(ema)
        if self.folder is not None:
            self.folder.append_metrics(
                {"step": solver.iteration, "lr": lr, "loss": loss, "ema": ema}
            )
        exploded = len(self.ema) > MIN_STEPS_BEFORE_STOP and ema > STOP_FACTOR * min(self.ema)
        if len(self.losses) >= self.steps or exploded or not math.isfinite(ema):
            self.finished = True
            solver.request_stop()


def window(steps):
    """The width of the centred average: an odd number, about steps / 25, at least 3."""
    return max(3, steps // 25) | 1


def centred_average(values, width):
    """The mean of each value's centred window of `width` values (fewer at the ends)."""
    values = np.asarray(values, dtype=float)
    kernel = np.ones(width)
    sums = np.convolve(values, kernel, mode="same")
    counts = np.convolve(np.ones_like(values), kernel, mode="same")
    return sums / counts


def suggest(lrs, smoothed):
    """{"suggested_lr", "min_loss_lr", "steepest_lr"} from the rates and averaged losses of a
    range test (None each when there are fewer than 3 finite points)."""
    lrs, smoothed = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    finite = np.isfinite(smoothed)
    lrs, smoothed = lrs[finite], smoothed[finite]
    if len(lrs) < 3:
        return {"suggested_lr": None, "min_loss_lr": None, "steepest_lr": None}
    lowest = int(np.argmin(smoothed))
    slope = np.gradient(smoothed, np.log(lrs))
    steepest = int(np.argmin(slope[: lowest + 1]))
    return {
        "suggested_lr": float(lrs[lowest] / 10),
        "min_loss_lr": float(lrs[lowest]),
        "steepest_lr": float(lrs[steepest]),
    }


def range_csv(lrs, losses, smoothed):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", "lr", "loss", "smoothed"])
    for i, row in enumerate(zip(lrs, losses, smoothed, strict=True)):
        writer.writerow([i + 1, *(repr(float(v)) for v in row)])
    return buffer.getvalue()


class LrFindJob:
    """The range test of a config's net; built (and so validated) before any folder exists."""

    def __init__(self, config, splits, rng, *, min_lr, max_lr, steps, progress):
        if not MODEL_TYPES[config.model.type].trainable:
            raise ConfigError(
                f"lr-find trains a net; model.type {config.model.type} has no learning rate"
            )
        if not 0 < min_lr < max_lr:
            raise ConfigError(f"lr-find needs 0 < min_lr < max_lr, got {min_lr} and {max_lr}")
        if steps < 3:
            raise ConfigError(f"lr-find needs at least 3 steps, got {steps}")
        self.config, self.steps = config, steps
        self.schedule = RangeTest(min_lr, max_lr, steps)
        train = config.train
        model = build_model(config.model.model_dump(), splits.input_dim, splits.num_classes, rng)
        per_epoch = max(1, math.ceil(len(splits.X_train) / train.batch_size))
        self.recorder = RangeRecorder(steps)
        self.solver = Solver(
            model,
            {
                "X_train": splits.X_train,
                "y_train": splits.y_train,
                "X_val": splits.X_val[:0],  # no evaluation between epochs: only the loss counts
                "y_val": splits.y_val[:0],
            },
            update_rule=train.optimizer,
            optim_config={**optim_settings(train), "learning_rate": min_lr},
            batch_size=train.batch_size,
            num_epochs=math.ceil(steps / per_epoch),
            num_train_samples=1,
            verbose=False,
            progress=progress,
            rng=rng,
            augment=make_augmenter(
                config.data.augment, splits.image_shape, "channels_first" in splits.preprocess
            ),
            callbacks=[self.recorder],
            divergence_factor=None,  # a growing loss is what the test looks for
            schedule=self.schedule,
        )

    def run(self, folder):
        self.recorder.folder = folder
        with signals.graceful(self.solver.request_stop):
            status = self.solver.train()
        recorder = self.recorder
        if recorder.finished or status is Status.DIVERGED or status is Status.COMPLETED:
            status = Status.COMPLETED  # the end of a range test, however the loss behaved
        smoothed = centred_average(recorder.losses, window(self.steps))
        found = suggest(recorder.lrs, smoothed)
        atomic.write_text(
            folder.path / "lr_find.csv", range_csv(recorder.lrs, recorder.losses, smoothed)
        )
        viz.plot_lr_find(
            recorder.lrs,
            recorder.losses,
            smoothed,
            folder.plots / "lr_find.png",
            suggested=found["suggested_lr"],
            title=f"Learning-rate range test ({self.config.name})",
        )
        folder.update_summary(
            kind="lr-find", steps=len(recorder.losses), schedule=self.schedule.spec(), **found
        )
        if found["suggested_lr"] is not None:
            log.info(
                "lowest averaged loss at lr %.3g: suggested learning rate %.3g (steepest descent "
                "at %.3g)",
                found["min_loss_lr"],
                found["suggested_lr"],
                found["steepest_lr"],
            )
        return RunResult(run_dir=folder.path, status=status, extra=found)


def lr_find(
    config,
    runs_dir="runs",
    *,
    data_dir=None,
    cache_dir=None,
    base_dir=None,
    progress=False,
    min_lr=1e-7,
    max_lr=10.0,
    steps=300,
):
    """Run the range test of config into a new run folder named <name>-lr-find; returns
    RunResult whose extra holds suggested_lr, min_loss_lr and steepest_lr. Input errors are
    raised before any folder exists, as for `nnctl train`."""
    config = resolve_paths(config, base_dir)
    name = config.name[: 100 - len("-lr-find")] + "-lr-find"
    config = config.model_copy(update={"name": name})
    with signals.terminate_as_interrupt():
        probe_writable(runs_dir)
        data_rng, rng = generators(config.seed)
        splits = load_dataset(
            config.data, data_rng, data_dir=data_dir, cache_dir=cache_dir, progress=progress
        )
        check_against_data(config, splits)
        job = LrFindJob(
            config, splits, rng, min_lr=min_lr, max_lr=max_lr, steps=steps, progress=progress
        )
        folder, lock = _take_folder(None, config, runs_dir, None)
        update_latest(folder.path.resolve().parent, folder.path.resolve())
        log.info("run folder %s", folder.path)
        return execute(folder, lock, lambda: job.run(folder))
