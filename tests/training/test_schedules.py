"""Learning-rate schedules against rates worked out by hand, applied by the Solver at every
step, and stored in checkpoints so a resumed run gives the rates of a straight one."""

import math

import numpy as np
import pytest

from nnctl.errors import ConfigError, RunError
from nnctl.status import Status
from nnctl.training.schedules import SCHEDULES, Schedule
from nnctl.training.solver import Callback
from tests.training.test_solver import StopAt, blobs, make


def rates(schedule, steps_per_epoch, total):
    return [schedule.factor(t, steps_per_epoch, total) for t in range(total)]


def test_step_schedule_by_hand():
    # 3 steps per epoch, halved every 2 epochs: epochs 0-1 at 1, 2-3 at 0.5, 4-5 at 0.25.
    got = rates(Schedule("step", step_epochs=2, gamma=0.5), 3, 18)
    assert got == [1.0] * 6 + [0.5] * 6 + [0.25] * 6


def test_exponential_schedule_by_hand():
    got = rates(Schedule("exponential", gamma=0.9), 2, 6)
    assert got == pytest.approx([1, 1, 0.9, 0.9, 0.81, 0.81])


def test_cosine_schedule_by_hand():
    # 4 steps, no warmup: progress 0, 1/4, 1/2, 3/4 -> (1 + cos(pi p)) / 2.
    c = math.sqrt(2) / 4  # cos(pi / 4) / 2
    assert rates(Schedule("cosine"), 2, 4) == pytest.approx([1, 0.5 + c, 0.5, 0.5 - c])
    # A floor of 0.1: 0.1 + 0.9 * the same.
    floor = rates(Schedule("cosine", final_fraction=0.1), 2, 4)
    assert floor == pytest.approx([1, 0.1 + 0.9 * (0.5 + c), 0.55, 0.1 + 0.9 * (0.5 - c)])


def test_warmup_ramps_linearly_then_the_cosine_starts():
    # 4 steps per epoch, 1 warmup epoch, 12 steps: 1/4, 2/4, 3/4, 4/4 while warming up; the
    # cosine then runs over the 8 steps after the warmup: progress (t - 4) / 8.
    got = rates(Schedule("cosine", warmup_epochs=1), 4, 12)
    expected = [0.25, 0.5, 0.75, 1.0] + [
        (1 + math.cos(math.pi * (t - 4) / 8)) / 2 for t in range(4, 12)
    ]
    assert got == pytest.approx(expected)
    assert got[8] == pytest.approx(0.5)
    # Half an epoch of warmup for a step schedule: 2 steps, and epochs counted from 0.
    step = rates(Schedule("step", warmup_epochs=0.5, step_epochs=1, gamma=0.1), 4, 8)
    assert step == pytest.approx([0.5, 1, 1, 1, 0.1, 0.1, 0.1, 0.1])


def test_bad_schedules_are_refused():
    with pytest.raises(ConfigError, match="unknown learning-rate schedule 'linear'"):
        Schedule("linear")
    with pytest.raises(ConfigError, match="warmup_epochs >= 0"):
        Schedule("cosine", warmup_epochs=-1)
    assert set(SCHEDULES) == {"constant", "step", "exponential", "cosine"}


class Rates(Callback):
    def __init__(self):
        self.used = []

    def on_step(self, solver, loss):
        self.used.append(solver.learning_rate)


def test_the_solver_sets_every_steps_rate():
    data = blobs()  # 300 examples in batches of 32: 10 steps per epoch
    schedule = Schedule("cosine", warmup_epochs=0.5)
    recorder = Rates()
    _, solver = make(data, num_epochs=3, schedule=schedule, callbacks=[recorder])
    solver.train()
    assert recorder.used == pytest.approx([1e-2 * f for f in rates(schedule, 10, 30)])
    assert solver.lr_history == pytest.approx([recorder.used[i] for i in (9, 19, 29)])
    with pytest.raises(RunError, match="schedule or lr_decay, not both"):
        make(data, schedule=schedule, lr_decay=0.9)


@pytest.mark.parametrize("stop_at", [7, 20])  # in the warmup, at an epoch's end
def test_resume_with_a_schedule_equals_a_straight_run(tmp_path, stop_at):
    data = blobs()
    schedule = Schedule("cosine", warmup_epochs=1, final_fraction=0.05)
    straight_rates = Rates()
    straight_model, straight = make(
        data, num_epochs=4, schedule=schedule, callbacks=[straight_rates]
    )
    straight.train()

    _, solver = make(data, num_epochs=4, schedule=schedule, callbacks=[StopAt(stop_at)])
    assert solver.train() is Status.INTERRUPTED
    solver.save_checkpoint(tmp_path / "checkpoint.npz")
    resumed_rates = Rates()
    resumed_model, resumed = make(
        data, seed=99, num_epochs=4, schedule=schedule, callbacks=[resumed_rates]
    )
    resumed.load_checkpoint(tmp_path / "checkpoint.npz")
    assert resumed.train() is Status.COMPLETED
    assert resumed_rates.used == straight_rates.used[stop_at:]
    assert resumed.loss_history == straight.loss_history
    for name in straight_model.params:
        np.testing.assert_array_equal(resumed_model.params[name], straight_model.params[name])

    # The checkpoint holds its schedule: another one (or none) is refused.
    for other in (Schedule("cosine", warmup_epochs=2), None):
        _, mismatched = make(data, num_epochs=4, schedule=other)
        with pytest.raises(RunError, match="made with schedule"):
            mismatched.load_checkpoint(tmp_path / "checkpoint.npz")
