"""The Solver on synthetic data: learning, shuffling, decay, divergence, exact resume."""

import numpy as np
import pytest

from nnctl.datasets import load_dataset
from nnctl.errors import ConfigError
from nnctl.models import FullyConnectedNet
from nnctl.status import Status
from nnctl.training.solver import Callback, Solver


def blobs(seed=0, n=300):
    s = load_dataset(
        {
            "dataset": "blobs",
            "classes": 4,
            "dim": 6,
            "noise": 2.0,
            "split": {"train": n, "val": 60},
        },
        np.random.default_rng(seed),
    )
    return {"X_train": s.X_train, "y_train": s.y_train, "X_val": s.X_val, "y_val": s.y_val}


def make(data, seed=0, model_seed=None, **kwargs):
    """A small batchnorm + dropout net and its Solver, sharing one Generator (as a run does)
    unless model_seed gives the model its own."""
    rng = np.random.default_rng(seed)
    model = FullyConnectedNet(
        [16, 12],
        input_dim=6,
        num_classes=4,
        normalization=kwargs.pop("normalization", "batchnorm"),
        dropout=kwargs.pop("dropout", 0.3),
        init="he",
        seed=rng if model_seed is None else np.random.default_rng(model_seed),
    )
    options = dict(
        update_rule="adam",
        optim_config={"learning_rate": 1e-2},
        batch_size=32,
        num_epochs=4,
        verbose=False,
        rng=rng,
    )
    options.update(kwargs)
    return model, Solver(model, data, **options)


def test_loss_decreases_and_histories_have_documented_lengths():
    data = blobs()
    model, solver = make(data, num_epochs=5)
    assert solver.train() is Status.COMPLETED and solver.stop_reason is None
    per_epoch = int(np.ceil(300 / 32))
    assert len(solver.loss_history) == 5 * per_epoch
    assert (
        len(solver.train_acc_history) == len(solver.val_acc_history) == len(solver.lr_history) == 5
    )
    assert np.mean(solver.loss_history[-per_epoch:]) < 0.6 * np.mean(
        solver.loss_history[:per_epoch]
    )
    assert solver.best_val_acc > 0.7


class Recorder(Callback):
    def __init__(self):
        self.params, self.records = [], []

    def on_epoch_end(self, solver, record):
        self.params.append({k: v.copy() for k, v in solver.model.params.items()})
        self.records.append(record)


def test_best_parameters_are_restored():
    data = blobs()
    recorder = Recorder()
    model, solver = make(
        data, num_epochs=6, optim_config={"learning_rate": 5e-2}, callbacks=[recorder]
    )
    solver.train()
    best = int(np.argmax([r["val_acc"] for r in recorder.records]))  # first maximum
    assert solver.best_epoch == best + 1
    assert solver.best_val_acc == recorder.records[best]["val_acc"]
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, recorder.params[best][name])


def test_each_epoch_is_a_permutation_of_the_training_set():
    X = np.arange(50, dtype=np.float64)[:, None] * np.ones((1, 6))
    data = {
        "X_train": X,
        "y_train": np.zeros(50, dtype=int),
        "X_val": X[:5],
        "y_val": np.zeros(5, dtype=int),
    }
    model, solver = make(data, batch_size=8, num_epochs=3, normalization=None, dropout=0.0)
    seen = []
    original = model.loss

    def spy(Xb, y=None):
        if y is not None:
            seen.extend(Xb[:, 0].astype(int).tolist())
        return original(Xb, y)

    model.loss = spy
    solver.train()
    epochs = [seen[i * 50 : (i + 1) * 50] for i in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(50))
    assert epochs[0] != epochs[1]  # reshuffled every epoch


def test_learning_rate_decays_after_every_epoch():
    model, solver = make(blobs(), lr_decay=0.5, num_epochs=3, optim_config={"learning_rate": 0.08})
    solver.train()
    assert solver.lr_history == [0.08, 0.04, 0.02]
    assert all(c["learning_rate"] == 0.01 for c in solver.optim_configs.values())


def test_unknown_arguments_and_rules_raise():
    data = blobs()
    model = FullyConnectedNet([4], input_dim=6, num_classes=4)
    with pytest.raises(TypeError, match="learning_rat"):
        Solver(model, data, learning_rat=1e-3)
    with pytest.raises(ConfigError, match="unknown update rule 'adamax'"):
        Solver(model, data, update_rule="adamax")


def report_losses(model, values):
    """Make training call k (1-based) of model.loss report values[k] instead of its loss (the
    gradients stay the real ones); scoring calls are untouched."""
    original = model.loss
    calls = []

    def loss(X, y=None):
        if y is None:
            return original(X)
        calls.append(1)
        value, grads = original(X, y)
        return values.get(len(calls), value), grads

    model.loss = loss


def test_nan_loss_stops_the_run_as_diverged_and_keeps_the_best_parameters():
    data = blobs()
    recorder = Recorder()
    model, solver = make(data, num_epochs=3, callbacks=[recorder])
    # 10 iterations per epoch: the NaN comes in epoch 2, after one epoch picked best parameters.
    report_losses(model, {13: float("nan")})
    assert solver.train() is Status.DIVERGED
    assert solver.diverged_at == 13
    assert len(solver.loss_history) == 12 and np.all(np.isfinite(solver.loss_history))
    assert solver.epoch == 1 and solver.best_epoch == 1
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, recorder.params[0][name])


def test_exploding_loss_is_divergence():
    # A loss that grows huge but stays finite: only the divergence factor can stop this run.
    # The first loss is 2, so with the default factor 1e3 the limit is 2000: 1999 is allowed
    # (the limit is relative to the first loss, not the factor itself), 2000.5 is not.
    exploding = {1: 2.0, 4: 1999.0, 6: 2000.5, 7: 5e4}
    model, solver = make(blobs(), num_epochs=1)
    report_losses(model, exploding)
    assert solver.train() is Status.DIVERGED
    assert solver.diverged_at == 6
    assert solver.loss_history[0] == 2.0 and solver.loss_history[3] == 1999.0
    assert len(solver.loss_history) == 5

    # Without the factor, the same finite losses are just losses.
    model, solver = make(blobs(), num_epochs=1, divergence_factor=None)
    report_losses(model, exploding)
    assert solver.train() is Status.COMPLETED and solver.diverged_at is None
    assert solver.loss_history[5:7] == [2000.5, 5e4]


def test_same_seed_gives_identical_runs():
    data = blobs()
    a = make(data, seed=3)[1]
    b = make(data, seed=3)[1]
    a.train()
    b.train()
    assert a.loss_history == b.loss_history
    assert a.val_acc_history == b.val_acc_history


class StopAt(Callback):
    def __init__(self, iteration):
        self.iteration = iteration

    def on_step(self, solver, loss):
        if solver.iteration == self.iteration:
            solver.request_stop()


@pytest.mark.parametrize(
    "stop_at,own_rngs,via",
    [
        (13, False, "file"),  # mid-epoch
        (20, False, "file"),  # exactly at an epoch's end (10 iterations per epoch)
        (13, True, "arrays"),  # the model's dropout Generator apart from the Solver's
    ],
)
def test_resume_after_interrupt_equals_an_uninterrupted_run(tmp_path, stop_at, own_rngs, via):
    data = blobs()
    seeds, new_seeds = ({"model_seed": 1}, {"model_seed": 98}) if own_rngs else ({}, {})
    straight_model, straight = make(data, num_epochs=4, **seeds)
    straight.train()

    model, solver = make(data, num_epochs=4, callbacks=[StopAt(stop_at)], **seeds)
    assert solver.train() is Status.INTERRUPTED
    assert solver.iteration == stop_at
    if via == "file":
        solver.save_checkpoint(tmp_path / "checkpoint.npz")
    else:
        arrays = {k: np.copy(v) for k, v in solver.state_arrays().items()}

    # A new process would build everything afresh from the config, with another Generator state.
    resumed_model, resumed = make(data, seed=99, num_epochs=4, **new_seeds)
    if via == "file":
        resumed.load_checkpoint(tmp_path / "checkpoint.npz")
    else:
        resumed.load_state(arrays)
    assert resumed.train() is Status.COMPLETED
    assert resumed.loss_history == straight.loss_history
    assert resumed.val_acc_history == straight.val_acc_history
    assert resumed.best_val_acc == straight.best_val_acc
    for name in straight_model.params:
        np.testing.assert_array_equal(resumed_model.params[name], straight_model.params[name])
    np.testing.assert_array_equal(
        resumed_model.norm_params[0]["running_mean"], straight_model.norm_params[0]["running_mean"]
    )


def test_early_stopping_records_its_reason():
    data = blobs()
    model, solver = make(
        data, num_epochs=50, early_stopping=2, optim_config={"learning_rate": 3e-2}
    )
    assert solver.train() is Status.COMPLETED
    assert solver.stop_reason == "early_stopping"
    # The stop came exactly 2 epochs after the first best validation accuracy.
    val = solver.val_acc_history
    best = int(np.argmax(val))  # first maximum
    assert len(val) == solver.epoch < 50
    assert solver.best_epoch == best + 1 and solver.best_val_acc == val[best]
    assert solver.epoch == best + 1 + 2


def test_augment_is_applied_to_training_batches_only():
    X = np.zeros((300, 6))
    X[:, 0] = np.arange(300) / 1000  # each example carries its index; every value is below 1
    y = np.zeros(300, dtype=int)
    data = {"X_train": X, "y_train": y, "X_val": X[:40], "y_val": y[:40]}
    augmented, trained, scored = [], [], []

    def augment(Xb, rng):
        augmented.extend(np.rint(Xb[:, 0] * 1000).astype(int).tolist())
        return Xb + 1.0  # marks every augmented value

    model, solver = make(data, num_epochs=1, augment=augment)
    original = model.loss

    def spy(Xb, y=None):
        (scored if y is None else trained).append(Xb)
        return original(Xb, y)

    model.loss = spy
    solver.train()
    assert sorted(augmented) == list(range(300))  # every training example once
    assert all(np.all(Xb >= 1) for Xb in trained)  # the model learns from augmented batches
    # Accuracy is measured on the data as it is (300 training and 40 validation examples).
    assert sum(len(Xb) for Xb in scored) == 340 and all(np.all(Xb < 1) for Xb in scored)


def test_check_accuracy_scores_a_reproducible_subsample_without_the_training_rng():
    n = 250
    X = np.zeros((n, 6))
    X[:, 0] = np.arange(n)  # each example carries its index
    y = np.arange(n) % 4  # class 0 for examples 0, 4, ..., 248: 63 of them
    data = {"X_train": X, "y_train": y, "X_val": X[:0], "y_val": y[:0]}
    scored = []

    def always_class_0(Xb, y=None):
        scored.extend(Xb[:, 0].astype(int).tolist())
        scores = np.zeros((len(Xb), 4))
        scores[:, 0] = 1.0
        return scores

    def solver_of(seed):
        model, solver = make(data, seed=seed)
        model.loss = always_class_0
        return solver

    solver = solver_of(0)

    def subsample(solver, iteration):
        scored.clear()
        solver.iteration = iteration
        accuracy = solver.check_accuracy(X, y, num_samples=50, batch_size=16)
        return accuracy, list(scored)

    # All of them, in batches of 100, 100 and 50.
    assert solver.check_accuracy(X, y, batch_size=100) == 63 / 250
    assert sorted(scored) == list(range(n))

    rng_before = solver.rng.bit_generator.state
    accuracy, first = subsample(solver, 0)
    assert len(set(first)) == 50  # 50 distinct examples
    assert accuracy == sum(i % 4 == 0 for i in first) / 50  # scored on those 50 only
    assert max(first) >= 100  # drawn from the whole set, not its first 50
    assert solver.rng.bit_generator.state == rng_before  # the training randomness is untouched
    assert subsample(solver, 0) == (accuracy, first)  # reproducible ...
    assert subsample(solver_of(5), 0)[1] == first  # ... by any solver
    assert subsample(solver, 7)[1] != first  # another iteration, another subsample

    assert solver.check_accuracy(X[:0], y[:0]) is None  # no examples, no accuracy


def test_without_validation_data_the_best_epoch_follows_training_accuracy():
    data = blobs()
    data = {**data, "X_val": data["X_val"][:0], "y_val": data["y_val"][:0]}
    recorder = Recorder()
    model, solver = make(
        data,
        num_epochs=4,
        num_train_samples=None,
        optim_config={"learning_rate": 3e-2},
        callbacks=[recorder],
    )
    solver.train()
    assert solver.best_val_acc is None  # no validation accuracy is reported as one
    assert solver.val_acc_history == [None] * 4
    train_acc = [r["train_acc"] for r in recorder.records]
    best = int(np.argmax(train_acc))  # first maximum
    assert best < len(train_acc) - 1  # (here an earlier epoch than the last, which ties it)
    assert solver.best_epoch == best + 1
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, recorder.params[best][name])
