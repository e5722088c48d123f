"""Learning-rate schedules: the rate of every update as a pure function of the step.

    schedule = Schedule("cosine", warmup_epochs=1, final_fraction=0.01)
    lr = base_lr * schedule.factor(step, steps_per_epoch, total_steps)

`step` counts updates from 0 (the update about to be made), `steps_per_epoch` is the number
of minibatches per epoch and `total_steps` = epochs * steps_per_epoch. Nothing depends on
anything else, so a run resumed at step t continues with exactly the rates of a run that
never stopped.

- constant:    1
- step:        gamma ** (epoch // step_epochs), epoch = completed epochs (step // steps_per_epoch)
- exponential: gamma ** epoch (the same as train.lr_decay = gamma)
- cosine:      final + (1 - final) * (1 + cos(pi * p)) / 2 with p the fraction of the steps
               after the warmup that are done: p = (step - W) / (total_steps - W), in [0, 1]
               (Loshchilov & Hutter, SGDR, ICLR 2017, without restarts); per step.

A warmup of warmup_epochs (W = round(warmup_epochs * steps_per_epoch) steps) multiplies the
factor by (step + 1) / W during its first W steps, a linear ramp from base_lr / W up to base_lr
(Goyal et al. 2017); step and exponential count their epochs from the start of training.
"""

import math
from dataclasses import asdict, dataclass

from nnctl.errors import ConfigError
from nnctl.registry import Registry


def _constant(epoch, progress, schedule):
    return 1.0


def _step(epoch, progress, schedule):
    return schedule.gamma ** (epoch // schedule.step_epochs)


def _exponential(epoch, progress, schedule):
    return schedule.gamma**epoch


def _cosine(epoch, progress, schedule):
    final = schedule.final_fraction
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))


# name -> factor(completed epochs, cosine progress in [0, 1], Schedule) before the warmup.
SCHEDULES = Registry(
    "learning-rate schedule",
    {"constant": _constant, "step": _step, "exponential": _exponential, "cosine": _cosine},
)


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule (see the module docstring).

    type: a name in SCHEDULES; warmup_epochs >= 0 (may be fractional); step_epochs (step):
    epochs between two decays; gamma (step, exponential): factor per decay; final_fraction
    (cosine): the last rate as a fraction of the base rate.
    """

    type: str = "constant"
    warmup_epochs: float = 0.0
    step_epochs: int = 10
    gamma: float = 0.1
    final_fraction: float = 0.0

    def __post_init__(self):
        SCHEDULES[self.type]  # raises, listing the valid names
        if self.warmup_epochs < 0 or self.step_epochs < 1 or self.gamma <= 0:
            raise ConfigError(
                "a schedule needs warmup_epochs >= 0, step_epochs >= 1 and gamma > 0, got "
                f"{self.warmup_epochs}, {self.step_epochs} and {self.gamma}"
            )
        if not 0 <= self.final_fraction <= 1:
            raise ConfigError(f"final_fraction must be in [0, 1], got {self.final_fraction}")

    def warmup_steps(self, steps_per_epoch):
        return round(self.warmup_epochs * steps_per_epoch)

    def factor(self, step, steps_per_epoch, total_steps):
        """The learning rate of update `step` (0-based) as a fraction of the base rate."""
        warmup = self.warmup_steps(steps_per_epoch)
        span = max(1, total_steps - warmup)
        progress = min(1.0, max(0.0, (step - warmup) / span))
        factor = SCHEDULES[self.type](step // steps_per_epoch, progress, self)
        if step < warmup:
            factor *= (step + 1) / warmup
        return factor

    def spec(self):
        """Plain data that rebuilds it (stored with checkpoints): Schedule(**spec)."""
        return asdict(self)
