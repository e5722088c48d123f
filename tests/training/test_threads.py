"""BLAS threads: --threads N|auto parsed, a forced count honoured inside every training step
(read back with threadpoolctl), auto choosing the faster count on a fake clock (no real timing
here), and the counts recorded in summary.json."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_info, threadpool_limits

from nnctl.cli import main
from nnctl.config import validate
from nnctl.datasets import load_dataset
from nnctl.experiment import run_experiment
from nnctl.models import FullyConnectedNet
from nnctl.models.fcnet import FullyConnectedNet as FcNet
from nnctl.status import Status
from nnctl.sweep import run_sweep
from nnctl.training import threads as threads_module
from nnctl.training.solver import Solver
from nnctl.training.threads import (
    AUTO,
    AutoThreads,
    FixedThreads,
    ThreadSetting,
    ThreadTuner,
    candidate_counts,
    parse_threads,
)


def blas_threads():
    """The thread count NumPy's BLAS uses right now, as threadpoolctl reads it."""
    return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class TimedNet(FullyConnectedNet):
    """A net whose every training step reads the BLAS thread count from threadpoolctl, and
    makes the fake clock advance by what `cost(count, step)` says the step took."""

    def __init__(self, clock, cost, **kwargs):
        super().__init__([8], input_dim=4, num_classes=3, init="he", seed=0, **kwargs)
        self.clock, self.cost, self.seen = clock, cost, []

    def loss(self, X, y=None):
        if y is not None:
            count = blas_threads()
            self.clock.now += self.cost(count, len(self.seen))
            self.seen.append(count)
        return super().loss(X, y)


def toy_data(n=300):
    s = load_dataset(
        {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": n, "val": 30}},
        np.random.default_rng(0),
    )
    return {"X_train": s.X_train, "y_train": s.y_train, "X_val": s.X_val, "y_val": s.y_val}


def train(model, callback, epochs=4, data=None):
    solver = Solver(
        model, data or toy_data(), update_rule="sgd", batch_size=10, num_epochs=epochs,
        verbose=False, rng=np.random.default_rng(0), callbacks=[callback],
    )  # fmt: skip
    assert solver.train() is Status.COMPLETED
    return solver


# -- parsing and candidates ---------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [("auto", AUTO), (" Auto ", AUTO), ("3", 3), (1, 1)])
def test_threads_are_auto_or_a_positive_count(text, expected):
    assert parse_threads(text) == expected


@pytest.mark.parametrize("text", ["0", "-2", "1.5", "many", ""])
def test_other_thread_values_are_refused_saying_what_was_expected(text):
    with pytest.raises(ValueError, match="'auto' or a whole number >= 1"):
        parse_threads(text)


@pytest.mark.parametrize(
    "most,expected", [(1, [1]), (2, [1, 2]), (6, [1, 2, 4, 6]), (8, [1, 2, 4, 8])]
)
def test_auto_tries_powers_of_two_and_every_core(most, expected):
    assert candidate_counts(most) == expected


def test_sweep_workers_share_the_cores_and_keep_one_thread_each_when_they_fill_them(
    monkeypatch,
):
    monkeypatch.setattr(threads_module, "cpu_count", lambda: 4)
    assert ThreadSetting.per_worker("auto", 4).candidates() == [1]
    assert ThreadSetting.per_worker("auto", 2).candidates() == [1, 2]
    assert ThreadSetting.per_worker("auto", 1).candidates() == [1, 2, 4]
    assert ThreadSetting.per_worker(3, 4).candidates() == [3]  # asked for: given as asked


# -- the tuner alone, fed made-up step times ------------------------------------------------


def feed(tuner, cost, steps):
    """Run `steps` more steps whose duration is cost(count, step); returns the count of each.
    The tuner's time goes on from where the last call left it."""
    counts = []
    for i in range(steps):
        seconds = cost(tuner.count, i)
        tuner.test_clock = getattr(tuner, "test_clock", 0.0) + seconds
        counts.append(tuner.count)
        tuner.record(seconds, tuner.test_clock)
    return counts


def test_a_probe_keeps_the_count_with_the_fastest_median_step():
    for slow in (1, 2):
        tuner = ThreadTuner([1, 2])
        tuner.start(0.0)
        counts = feed(tuner, lambda c, i, s=slow: 3.0 if c == s else 1.0, 40)
        fast = 3 - slow
        assert tuner.timings[fast] == 1.0 and counts[-20:] == [fast] * 20


def test_one_step_far_slower_than_the_best_gives_a_candidate_up():
    tuner = ThreadTuner([1, 2], probe_steps=3, give_up=3.0)
    tuner.start(0.0)
    counts = feed(tuner, lambda c, i: 50.0 if c == 2 else 1.0, 10)
    # the run's first step (untimed), then turns 1, 2: one step at 2 is enough
    assert counts == [1, 1, 2, 1, 1, 1, 1, 1, 1, 1] and tuner.timings == {1: 1.0, 2: 50.0}


def test_a_probe_takes_turns_so_a_burst_of_other_work_hits_every_count():
    tuner = ThreadTuner([1, 2], probe_steps=3, give_up=100.0)
    tuner.start(0.0)
    burst = {3, 4}  # another program runs during the 4th and 5th steps

    def cost(count, i):
        return (1.0 if count == 2 else 1.5) * (4 if i in burst else 1)

    counts = feed(tuner, cost, 7)
    assert counts == [1, 1, 2, 1, 2, 1, 2] and tuner.count == 2


@pytest.mark.parametrize("screened,expected", [(10.0, [1] * 8), (1.2, [1, 1, 2, 1, 2, 1, 2, 1])])
def test_a_screen_rules_out_a_count_far_slower_on_small_work_before_any_step(screened, expected):
    asked = []

    def screen(counts):
        asked.append(list(counts))
        return {1: 1e-3, 2: screened * 1e-3}

    tuner = ThreadTuner([1, 2], give_up=3.0, screen=screen)
    tuner.start(0.0)
    assert feed(tuner, lambda c, i: 1.0, 8) == expected and asked == [[1, 2]]


def test_the_screen_times_its_work_at_each_count_and_puts_the_running_count_back():
    seen, clock = [], FakeClock()
    callback = AutoThreads(
        [1, 2], clock=clock, screen_work=lambda: seen.append(blas_threads()),
        min_interval=3.0, max_interval=3.0,  # a probe, and a screen, every few steps
    )  # fmt: skip
    model = TimedNet(clock, lambda c, i: 1.0 if c == 1 else 1.5)
    with threadpool_limits(limits=2):
        train(model, callback, epochs=1)
    assert seen[:4] == [1, 1, 2, 2]  # two timed runs at each count
    assert len(seen) > 8  # screened again during training
    # every step ran at the count the tuner chose, not the count screened last
    assert callback.record()["steps"] == {str(c): model.seen.count(c) for c in set(model.seen)}
    assert model.seen.count(1) > model.seen.count(2)


def test_auto_in_a_run_screens_with_a_small_matrix_product():
    callback = ThreadSetting(AUTO, most=2).callback()
    assert callback.tuner.screen is not None and callback.screen_work() is not None


def test_a_median_ignores_one_noisy_step_and_the_first_step():
    tuner = ThreadTuner([1, 2], give_up=100.0)
    tuner.start(0.0)
    times = {1: [9.0, 1.0, 8.0, 1.0], 2: [9.0, 2.0, 2.0]}  # the run's first step first

    def cost(count, i):
        return times[count].pop(0)

    feed(tuner, cost, 7)
    assert tuner.timings == {1: 1.0, 2: 2.0} and tuner.count == 1


def test_a_slowdown_at_the_chosen_count_starts_a_new_probe_that_moves_to_fewer_threads():
    tuner = ThreadTuner([1, 2], drift_interval=0.0, min_interval=1e9, max_interval=1e9, budget=1e9)
    tuner.start(0.0)

    def cost(count, i):  # another process takes a core at step 30
        if i < 30:
            return 1.0 if count == 2 else 1.5
        return 4.0 if count == 2 else 1.5

    counts = feed(tuner, cost, 60)
    assert counts[20:30] == [2] * 10 and counts[-10:] == [1] * 10
    # three slow steps make the median of the window of 5; that window times the slowed
    # count, so the new probe runs only the other one
    assert tuner.checks == 2 and counts[30:].index(1) == 3


def test_a_slowdown_at_one_thread_does_not_probe_since_fewer_threads_are_impossible():
    tuner = ThreadTuner([1, 2], drift_interval=0.0, min_interval=1e9, max_interval=1e9, budget=1e9)
    tuner.start(0.0)
    feed(tuner, lambda c, i: (3.0 if c == 2 else 1.0) * (1 if i < 30 else 2), 60)
    assert tuner.checks == 1 and tuner.count == 1


def test_a_speed_up_at_fewer_threads_than_possible_probes_again():
    tuner = ThreadTuner([1, 2], drift_interval=0.0, min_interval=1e9, max_interval=1e9, budget=1e9)
    tuner.start(0.0)

    def cost(count, i):  # the other process ends at step 30
        if i < 30:
            return 4.0 if count == 2 else 1.5
        return 0.6 if count == 2 else 1.0

    counts = feed(tuner, cost, 60)
    assert counts[20:30] == [1] * 10 and counts[-10:] == [2] * 10 and tuner.checks == 2


def test_after_a_count_cost_much_a_drift_waits_until_probing_again_is_within_budget():
    """On a loaded machine the faster count's step times go up and down; the other count cost
    19 s in the probe, so with a budget of 2% no probe comes before 950 s, drift or not."""
    tuner = ThreadTuner([1, 2], drift_interval=0.0, max_interval=1e9, budget=0.02)
    tuner.start(0.0)
    feed(tuner, lambda c, i: 20.0 if c == 2 else 1.0, 5)  # 4 steps at 1, one given up at 2
    assert tuner.count == 1 and tuner.checks == 1
    feed(tuner, lambda c, i: 20.0 if c == 2 else 0.5 if i % 2 else 1.5, 600)  # 600 s
    assert tuner.checks == 1
    feed(tuner, lambda c, i: 20.0 if c == 2 else 0.5, 800)  # past 950 s: probe again
    assert tuner.checks == 2


def test_checks_recur_after_the_time_the_last_probe_lost_divided_by_the_budget():
    tuner = ThreadTuner([1, 2], budget=0.1, min_interval=5.0, max_interval=1e9, give_up=100.0)
    tuner.start(0.0)
    feed(tuner, lambda c, i: 2.0 if c == 2 else 1.0, 7)  # the probe: 3 steps lost 1 s each
    assert tuner._next_check == pytest.approx(1.0 + 3 * 1.0 + 3 * 2.0 + 3 * 1.0 / 0.1)
    feed(tuner, lambda c, i: 1.0, 29)  # to 39 s
    assert tuner.checks == 1
    feed(tuner, lambda c, i: 1.0, 2)
    assert tuner.checks == 2


def test_one_candidate_never_probes():
    tuner = ThreadTuner([3])
    tuner.start(0.0)
    assert feed(tuner, lambda c, i: 1.0, 20) == [3] * 20 and tuner.checks == 0


# -- in the Solver: the counts really set, read back inside each step -----------------------


@pytest.mark.parametrize("forced,outer", [(1, 2), (2, 1)])
def test_a_forced_count_is_the_count_inside_every_training_step(forced, outer):
    clock = FakeClock()
    model = TimedNet(clock, lambda c, i: 1.0)
    with threadpool_limits(limits=outer):
        callback = FixedThreads(forced)
        solver = train(model, callback)
        assert blas_threads() == outer  # put back after training
    assert set(model.seen) == {forced} and len(model.seen) == solver.iteration
    assert callback.record() == {
        "requested": forced,
        "candidates": [forced],
        "chosen": forced,
        "steps": {str(forced): solver.iteration},
        "checks": 0,
    }


@pytest.mark.parametrize("slow", [1, 2])
def test_auto_runs_most_steps_at_the_count_that_is_not_slowed_down(slow):
    clock = FakeClock()
    model = TimedNet(clock, lambda c, i: 3.0 if c == slow else 1.0)
    callback = AutoThreads([1, 2], clock=clock)
    solver = train(model, callback)
    fast = 3 - slow
    record = callback.record()
    assert record["requested"] == "auto" and record["chosen"] == fast
    assert sum(record["steps"].values()) == solver.iteration == len(model.seen)
    assert record["steps"] == {str(c): model.seen.count(c) for c in (1, 2)}
    assert model.seen.count(fast) >= 0.9 * len(model.seen)
    assert set(model.seen[8:20]) == {fast}


def test_auto_follows_a_core_taken_halfway_through_training():
    clock = FakeClock()

    def cost(count, step):  # 2 threads are fastest until another process takes a core
        if step < 60:
            return 1.0 if count == 2 else 1.6
        return 5.0 if count == 2 else 1.6

    model = TimedNet(clock, cost)
    train(model, AutoThreads([1, 2], clock=clock), epochs=4)  # 120 steps
    assert model.seen[20:60].count(2) == 40
    assert model.seen[75:].count(1) >= 0.9 * len(model.seen[75:])


def test_switching_threads_leaves_the_training_numbers_alone():
    """The tuner draws nothing and touches no state: with a count forced and with auto
    switching between counts, training gives the same losses (this net's products are too
    small for OpenBLAS to split, so the rounding is the same too)."""
    losses = []
    for make in (lambda c: FixedThreads(1), lambda c: AutoThreads([1, 2], clock=c)):
        clock = FakeClock()
        model = TimedNet(clock, lambda c, i: 1.0 + (i % 7 == 0) * 5 * (c == 1))
        solver = train(model, make(clock))
        losses.append(solver.loss_history)
        if len(losses) == 2:
            assert set(model.seen) == {1, 2}  # it did switch
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


def test_applied_probes_once_and_puts_the_counts_back():
    clock = FakeClock()
    seen = []

    def work():
        seen.append(blas_threads())
        clock.now += 1.0 if seen[-1] == 1 else 4.0

    with threadpool_limits(limits=2):
        with ThreadSetting(AUTO, most=2).applied(work=work, clock=clock) as record:
            inside = blas_threads()
        assert blas_threads() == 2
    assert inside == 1 and record["chosen"] == 1 and record["checks"] == 1
    assert set(seen) == {1, 2}
    with ThreadSetting(1).applied(work=work, clock=clock) as record:
        assert blas_threads() == 1 and record["requested"] == 1


# -- recorded in summary.json, through the command line too ----------------------------------

TOY = {
    "name": "toy",
    "seed": 0,
    "data": {"dataset": "blobs", "classes": 3, "dim": 4, "split": {"train": 90, "val": 30}},
    "model": {"hidden_dims": [8]},
    "train": {"batch_size": 30, "epochs": 2},
}


def summary(folder):
    return json.loads((folder / "summary.json").read_text())


def test_a_run_records_the_requested_and_the_used_counts(tmp_path, monkeypatch):
    seen = []
    original = FcNet.loss

    def spy(self, X, y=None):
        if y is not None:
            seen.append(blas_threads())
        return original(self, X, y)

    monkeypatch.setattr(FcNet, "loss", spy)
    forced = run_experiment(validate(TOY), tmp_path, quiet=True, threads=ThreadSetting(1))
    assert set(seen) == {1}
    record = summary(forced.run_dir)["threads"]
    assert record["requested"] == 1 and record["chosen"] == 1 and record["steps"] == {"1": 6}
    auto = run_experiment(validate(TOY), tmp_path, quiet=True, threads=ThreadSetting(AUTO, 2))
    record = summary(auto.run_dir)["threads"]
    assert record["requested"] == "auto" and record["candidates"] == [1, 2]
    assert record["chosen"] in (1, 2) and sum(record["steps"].values()) == 6


def test_the_command_line_takes_threads_from_the_flag_or_nnctl_threads(tmp_path):
    config = tmp_path / "toy.yaml"
    config.write_text(json.dumps(TOY))
    runner = CliRunner()
    runs = tmp_path / "runs"

    def run(*extra, env=None):
        result = runner.invoke(
            main, ["train", str(config), "--runs-dir", str(runs), "--quiet", "--no-report", *extra],
            env=env,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return summary(runs / "latest")["threads"]

    forced = run("--threads", "1")
    assert forced["requested"] == forced["chosen"] == 1 and forced["steps"] == {"1": 6}
    assert run(env={"NNCTL_THREADS": "1"})["requested"] == 1
    assert run("--threads", "auto", env={"NNCTL_THREADS": "1"})["requested"] == "auto"
    assert run(env={"NNCTL_THREADS": None})["requested"] == "auto"
    bad = runner.invoke(main, ["train", str(config), "--threads", "0"])
    assert bad.exit_code == 2 and "whole number >= 1" in bad.output
    evaluated = runner.invoke(
        main, ["eval", str(runs / "latest"), "--split", "val", "--threads", "1", "--no-report"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((runs / "latest" / "eval.json").read_text())
    assert report["val"]["threads"]["requested"] == 1


def test_sweep_trials_record_their_share_of_the_cores(tmp_path, monkeypatch):
    monkeypatch.setattr(threads_module, "cpu_count", lambda: 2)  # seen by forked workers too
    config = validate({**TOY, "sweep": {"params": {"train.learning_rate": [1e-3, 1e-2]}}})
    result = run_sweep(config, tmp_path, workers=2, quiet=True)
    for row in result.rows:
        record = summary(result.folder / row["folder"])["threads"]
        assert record["requested"] == "auto" and record["candidates"] == [1]
        assert record["steps"] == {"1": 6}


def test_gradcheck_predict_and_sweep_compute_with_the_threads_asked_for(tmp_path, monkeypatch):
    import nnctl.diagnostics
    import nnctl.experiment.predict

    config = tmp_path / "toy.yaml"
    config.write_text(json.dumps({**TOY, "sweep": {"params": {"train.learning_rate": [1e-2]}}}))
    runs = tmp_path / "runs"
    seen = {}

    def spy(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            seen[name] = blas_threads()
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    spy(nnctl.diagnostics, "check_config_gradients")
    spy(nnctl.experiment.predict, "predict")
    runner = CliRunner()
    with threadpool_limits(limits=2):
        for args in (
            ["sweep", config, "--workers", "1", "--runs-dir", runs, "--quiet", "--no-report"],
            ["gradcheck", config, "--threshold", "1e-2"],  # a ReLU kink sits near 1e-3
            ["predict", runs / "latest", "split:val", "--out", tmp_path / "p.csv"],
        ):
            result = runner.invoke(main, [str(a) for a in [*args, "--threads", "1"]])
            assert result.exit_code == 0, result.output
    assert seen == {"check_config_gradients": 1, "predict": 1}
    trial = next((runs / "latest" / "trials").iterdir())
    assert summary(trial)["threads"]["steps"] == {"1": 6}


def test_a_knn_run_computes_with_the_threads_asked_for_and_records_them(tmp_path, monkeypatch):
    from nnctl.models import KNearestNeighbor

    seen = []
    original = KNearestNeighbor.predict

    def spy(self, X, *args, **kwargs):
        seen.append(blas_threads())
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(KNearestNeighbor, "predict", spy)
    config = validate({**TOY, "model": {"type": "knn", "k": 3}, "train": {}})
    with threadpool_limits(limits=1):  # 3: more than auto would try on a small machine
        result = run_experiment(config, tmp_path, quiet=True, threads=ThreadSetting(3))
    assert seen == [3]
    assert summary(result.run_dir)["threads"]["chosen"] == 3
