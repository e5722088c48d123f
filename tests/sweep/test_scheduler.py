"""ASHA's decisions against hand-worked examples: the promotion rule, the rungs, the order in
which a free worker takes trials, the records a decision leaves, and the state rebuilt from
those records alone. Training is replaced by a table of validation accuracies, so every
number below is worked out by hand from that table."""

import json
import math

import pytest

from nnctl.config import validate
from nnctl.errors import ConfigError, Interrupted
from nnctl.experiment import RunResult
from nnctl.runs import RunFolder, Status
from nnctl.sweep import expand, run_sweep
from nnctl.sweep.scheduler import (
    Rungs,
    decide,
    early_rank_correlation,
    rung_metric,
    spearman,
)

# -- the rule -----------------------------------------------------------------------------------


def test_rungs_are_min_epochs_times_powers_of_the_factor_below_the_last_epoch():
    assert Rungs.of(2, 3, 20).epochs == (2, 6, 18)
    assert Rungs.of(2, 3, 18).epochs == (2, 6)  # the last epoch is no rung: trials end there
    assert Rungs.of(1, 4, 16).epochs == (1, 4)
    rungs = Rungs.of(1, 3, 10)
    assert [rungs.after(e) for e in (0, 1, 2, 3, 9)] == [1, 3, 3, 9, None]
    assert rungs.number(9) == 3


def test_promotion_follows_the_hand_worked_sequence():
    """Arrivals at one rung, reduction factor 3: promoted when rank <= ceil(n / 3)."""
    arrivals = [0.50, 0.40, 0.60, 0.55, 0.30, 0.58, 0.61, 0.60, 0.55]
    expected = [  # (rank, n, promoted), worked out by hand
        (1, 1, True),  # alone: ceil(1/3) = 1
        (2, 2, False),  # 0.50 is better; ceil(2/3) = 1
        (1, 3, True),
        (2, 4, True),  # behind 0.60; ceil(4/3) = 2
        (5, 5, False),
        (2, 6, True),  # behind 0.60; ceil(6/3) = 2
        (1, 7, True),
        (3, 8, True),  # a tie does not displace the earlier 0.60: behind 0.61 and 0.60
        (6, 9, False),  # behind 0.60, 0.55 (tie), 0.58, 0.61, 0.60; ceil(9/3) = 3
    ]
    got = [decide(m, arrivals[:i], 3) for i, m in enumerate(arrivals)]
    assert got == expected
    assert decide(None, [0.1], 2) == (2, 2, False)  # no metric ranks last
    assert decide(0.1, [None], 2) == (1, 2, True)


def test_the_rung_metric_is_the_best_validation_accuracy_so_far():
    history = [
        {"epoch": 1.0, "train_acc": 0.3, "val_acc": 0.5},
        {"epoch": 2.0, "train_acc": 0.4, "val_acc": 0.45},
        {"epoch": 3.0, "train_acc": 0.6, "val_acc": 0.55},
    ]
    assert [rung_metric(history, e, "val_acc") for e in (1, 2, 3)] == [0.5, 0.5, 0.55]
    assert [rung_metric(history, e, "train_acc") for e in (1, 2, 3)] == [0.3, 0.4, 0.6]
    assert rung_metric(history, 4, "train_acc") is None  # it never got there


def test_spearman_against_hand_computed_ranks():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2, 3, 4) and (2, 1, 4, 3): 1 - 6 * (1 + 1 + 1 + 1) / (4 * 15) = 0.6
    assert spearman([0.1, 0.2, 0.3, 0.4], [0.5, 0.4, 0.9, 0.7]) == pytest.approx(0.6)
    # ties share their mean rank: (1.5, 1.5, 3) against (1, 2, 3)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(0.8660254)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None
    histories = [
        [{"epoch": e, "val_acc": v} for e, v in enumerate(curve, start=1)]
        for curve in ([0.1, 0.5, 0.6, 0.7], [0.2, 0.3, 0.4, 0.5], [0.3, 0.4, 0.5, 0.6])
    ]
    finals = [0.7, 0.5, 0.6]
    # epoch 1 ranks them 1, 2, 3 (final order 3, 1, 2): 1 - 6 * (4 + 1 + 1) / 24 = -0.5
    assert early_rank_correlation(histories, finals, "val_acc", 4) == {1: -0.5, 3: 1.0}


def test_scheduler_settings_that_cannot_work_are_refused_before_anything_runs():
    base = {
        "train": {"epochs": 4},
        "sweep": {"scheduler": {"min_epochs": 4}, "params": {"model.reg": [0.0, 0.1]}},
    }
    with pytest.raises(ConfigError, match=r"min_epochs \(4\) must be less than train.epochs"):
        expand(validate(base))
    base["sweep"]["scheduler"]["min_epochs"] = 1
    base["sweep"]["params"]["train.epochs"] = [4, 8]
    with pytest.raises(ConfigError, match="train.epochs: cannot be swept with a scheduler"):
        expand(validate(base))


# -- the driver's decisions against a table of accuracies -------------------------------------

# Validation accuracy after each epoch, per learning rate (= per trial, in grid order).
CURVES = {
    1e-4: [0.50, 0.55, 0.60, 0.62, 0.64, 0.66, 0.68, 0.69, 0.70],
    2e-4: [0.40, 0.45, 0.50, 0.52, 0.54, 0.56, 0.58, 0.59, 0.60],
    3e-4: [0.60, 0.62, 0.65, 0.66, 0.67, 0.68, 0.69, 0.70, 0.75],
    4e-4: [0.55, 0.56, 0.58, 0.60, 0.61, 0.62, 0.63, 0.64, 0.65],
    5e-4: [0.30, 0.31, 0.32, 0.33, 0.34, 0.35, 0.36, 0.37, 0.38],
}
TOY = {
    "name": "asha",
    "data": {"dataset": "blobs", "split": {"train": 60, "val": 30, "test": 0}},
    "train": {"epochs": 9},
    "sweep": {
        "scheduler": {"type": "asha", "min_epochs": 1, "reduction_factor": 3},
        "params": {"train.learning_rate": list(CURVES)},
    },
}


@pytest.fixture
def table_training(monkeypatch):
    """run_experiment replaced by CURVES: a trial "trains" from its last epoch to pause_at
    (or to the end), writing what a real run writes. Records every call."""
    import nnctl.sweep.driver as driver

    calls = []

    def fake_run(config, *, run_dir, resume, pause_at, **_):
        folder = RunFolder(run_dir)
        curve = CURVES[config.train.learning_rate]
        start = folder.read_summary().get("epochs", 0) if resume else 0
        end = pause_at or config.train.epochs
        calls.append((config.train.learning_rate, start, end))
        if not resume:
            folder.plots.mkdir(parents=True)
            folder.write_config("unused: true\n")
        folder.checkpoint_path.write_bytes(b"")
        folder.write_history(
            [
                {"epoch": e, "lr": 0.0, "train_acc": v, "val_acc": v, "loss": 1.0, "seconds": 0}
                for e, v in enumerate(curve[:end], start=1)
            ]
        )
        status = Status.PAUSED if end < config.train.epochs else Status.COMPLETED
        best = max(curve[:end])
        folder.update_summary(status=status, epochs=end, best_val_acc=best, train_acc=best)
        return RunResult(folder.path, status, best_val_acc=best, epochs=end)

    monkeypatch.setattr(driver, "run_experiment", fake_run)
    monkeypatch.setattr(driver, "load_dataset", lambda *a, **k: None)
    monkeypatch.setattr(driver, "load_splits", lambda locator: None)
    monkeypatch.setattr(driver, "_check_trials_against_data", lambda *a: None)
    return calls


def summaries(folder):
    """Each trial's summary.json ({} for a trial not started)."""
    paths = [folder / "trials" / f"{n:03d}" / "summary.json" for n in range(1, len(CURVES) + 1)]
    return [json.loads(p.read_text()) if p.is_file() else {} for p in paths]


def test_asha_decisions_follow_the_hand_worked_table(tmp_path, table_training):
    """Rungs at 1 and 3 epochs (of 9), factor 3, one worker. Worked out by hand:
    trial 1 (0.50) is alone at rung 1 and at rung 2 (0.60): promoted twice, trains all 9.
    trial 2 (0.40) ranks 2 of 2 at rung 1: stopped after 1 epoch.
    trial 3 (0.60) ranks 1 of 3 at rung 1; at rung 2 (0.65) 1 of 2: trains all 9.
    trial 4 (0.55) ranks 2 of 4 at rung 1 (ceil(4/3) = 2: promoted); at rung 2 (0.58) it
      ranks 3 of 3 behind 0.65 and 0.60 (ceil(3/3) = 1): stopped after 3 epochs.
    trial 5 (0.30) ranks 5 of 5 at rung 1: stopped after 1 epoch.
    A promoted trial is taken before any new one, so each promotion runs at once here."""
    result = run_sweep(validate(TOY), tmp_path, workers=1, quiet=True)
    assert table_training == [
        (1e-4, 0, 1), (1e-4, 1, 3), (1e-4, 3, 9),
        (2e-4, 0, 1),
        (3e-4, 0, 1), (3e-4, 1, 3), (3e-4, 3, 9),
        (4e-4, 0, 1), (4e-4, 1, 3),
        (5e-4, 0, 1),
    ]  # fmt: skip
    got = summaries(result.folder)
    assert [s["status"] for s in got] == ["completed", "stopped", "completed", "stopped", "stopped"]
    assert [s.get("stop_reason") for s in got] == [
        None,
        "rung 1 (1 epoch): rank 2 of 2",
        None,
        "rung 2 (3 epochs): rank 3 of 3",
        "rung 1 (1 epoch): rank 5 of 5",
    ]
    assert [(r["rung"], r["metric"], r["rank"], r["of"], r["seq"]) for r in got[3]["rungs"]] == [
        (1, 0.55, 2, 4, 6),
        (2, 0.58, 3, 3, 7),
    ]
    assert result.best["params"] == {"train.learning_rate": 3e-4}
    assert result.effort["epochs"] == {"trained": 9 + 1 + 9 + 3 + 1, "full": 5 * 9}
    assert "rank_correlation" not in result.effort  # trials were stopped: no full ranking


def test_decisions_are_rebuilt_from_the_trial_folders(tmp_path, table_training, monkeypatch):
    """The sweep dies (as if SIGKILLed) right after trial 4 paused at rung 2, before it was
    decided; a resumed sweep decides it from the records and goes on exactly as the
    uninterrupted sweep did."""
    from nnctl.sweep.scheduler import AshaPlan

    real_decide = AshaPlan.decide

    def dying(self, trial, queue):
        if trial.number == 4 and len(table_training) == 9:  # trial 4 at 3 epochs
            raise SystemExit("killed")
        return real_decide(self, trial, queue)

    monkeypatch.setattr(AshaPlan, "decide", dying)
    with pytest.raises(SystemExit):
        run_sweep(validate(TOY), tmp_path / "killed", workers=1, quiet=True)
    [folder] = [p for p in (tmp_path / "killed").iterdir() if not p.is_symlink()]
    before = summaries(folder)
    assert before[3]["status"] == "paused" and len(before[3]["rungs"]) == 1
    assert before[4] == {}  # trial 5 never started

    monkeypatch.setattr(AshaPlan, "decide", real_decide)
    del table_training[:]
    resumed = run_sweep(validate(TOY), tmp_path, resume=folder, workers=1, quiet=True)
    assert table_training == [(5e-4, 0, 1)]  # trial 4 was decided without training more
    straight = run_sweep(validate(TOY), tmp_path / "straight", workers=1, quiet=True)
    assert summaries(resumed.folder)[3]["rungs"] == summaries(straight.folder)[3]["rungs"]
    keys = ("status", "epochs", "best_val_acc", "stop_reason", "rungs")
    assert [{k: s.get(k) for k in keys} for s in summaries(resumed.folder)] == [
        {k: s.get(k) for k in keys} for s in summaries(straight.folder)
    ]


def test_a_promoted_trial_goes_before_new_ones_even_after_a_resume(
    tmp_path, table_training, monkeypatch
):
    """Ctrl-C while trial 1 trains its first epoch: it reaches rung 1 all the same, is
    promoted, and its continuation waits in the queue when the sweep stops. The resumed
    sweep continues it before it starts trial 2."""
    import os
    import signal

    import nnctl.sweep.driver as driver

    real = driver.run_experiment

    def ctrl_c_during_the_first_job(config, **kwargs):
        if not table_training:
            os.kill(os.getpid(), signal.SIGINT)
        return real(config, **kwargs)

    monkeypatch.setattr(driver, "run_experiment", ctrl_c_during_the_first_job)
    with pytest.raises(Interrupted):
        run_sweep(validate(TOY), tmp_path, workers=1, quiet=True)
    monkeypatch.setattr(driver, "run_experiment", real)
    [folder] = [p for p in tmp_path.iterdir() if not p.is_symlink()]
    first = summaries(folder)[0]
    assert first["status"] == "paused" and first["rungs"][0]["decision"] == "promoted"
    del table_training[:]
    run_sweep(validate(TOY), tmp_path, resume=folder, workers=1, quiet=True)
    assert table_training[:3] == [(1e-4, 1, 3), (1e-4, 3, 9), (2e-4, 0, 1)]
    assert math.isclose(summaries(folder)[0]["best_val_acc"], 0.70)


def test_a_resumed_sweep_queues_promoted_trials_in_the_order_they_were_promoted(tmp_path):
    """Hand-made records: trials 3 and 1 wait promoted (trial 3 first, seq 4 < 5), trial 2
    was interrupted on its way to rung 1, trials 4 and 5 never started."""
    from nnctl.runs import SweepFolder
    from nnctl.sweep.scheduler import AshaPlan, TrialQueue

    config = validate(TOY)
    trials = expand(config)
    folder = SweepFolder.create(tmp_path, "toy")

    def record(rung, epochs, seq):
        return {"rung": rung, "epochs": epochs, "metric": 0.5, "rank": 1, "of": 1, "seq": seq,
                "decision": "promoted"}  # fmt: skip

    written = {
        1: {"status": "paused", "epochs": 3, "rungs": [record(1, 1, 1), record(2, 3, 5)]},
        2: {"status": "interrupted", "epochs": 0},
        3: {"status": "paused", "epochs": 1, "rungs": [record(1, 1, 4)]},
    }
    for number, summary in written.items():
        folder.trial(number).plots.mkdir(parents=True)
        folder.trial(number).update_summary(**summary)
    queue = TrialQueue(lambda trial, pause_at: (trial.number, pause_at))
    AshaPlan(config, folder, trials).fill(queue, trials)
    order = [queue.popleft() for _ in range(len(queue))]
    assert order == [(3, 3), (1, None), (2, 1), (4, 1), (5, 1)]
