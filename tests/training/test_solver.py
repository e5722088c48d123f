"""The Solver on synthetic data: learning, shuffling, decay, divergence, exact resume."""

import numpy as np
import pytest

from nnctl.datasets import load_dataset
from nnctl.errors import ConfigError
from nnctl.models import FullyConnectedNet
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


def make(data, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    model = FullyConnectedNet(
        [16, 12],
        input_dim=6,
        num_classes=4,
        normalization=kwargs.pop("normalization", "batchnorm"),
        dropout=kwargs.pop("dropout", 0.3),
        init="he",
        seed=rng,
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
    assert solver.train() == "completed"
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
    with pytest.raises(ConfigError, match="unknown update rule 'adamw'"):
        Solver(model, data, update_rule="adamw")


def test_nan_loss_stops_the_run_as_diverged():
    data = blobs()
    model, solver = make(data, num_epochs=3)
    original = model.loss
    calls = []

    def poisoned(X, y=None):
        if y is None:
            return original(X)
        calls.append(1)
        loss, grads = original(X, y)
        return (float("nan"), grads) if len(calls) == 7 else (loss, grads)

    model.loss = poisoned
    assert solver.train() == "diverged"
    assert solver.diverged_at == 7
    assert len(solver.loss_history) == 6
    assert all(np.all(np.isfinite(v)) for v in model.params.values())


def test_exploding_loss_is_divergence():
    data = blobs()
    data = {**data, "X_train": data["X_train"] * 1e3}
    model, solver = make(
        data,
        normalization=None,
        dropout=0.0,
        optim_config={"learning_rate": 1e3},
        update_rule="sgd",
    )
    assert solver.train() == "diverged"


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
    "stop_at", [13, 20]
)  # mid-epoch, and exactly at an epoch's end (10 per epoch)
def test_resume_after_interrupt_equals_an_uninterrupted_run(tmp_path, stop_at):
    data = blobs()
    straight_model, straight = make(data, num_epochs=4)
    straight.train()

    model, solver = make(data, num_epochs=4, callbacks=[StopAt(stop_at)])
    assert solver.train() == "interrupted"
    assert solver.iteration == stop_at
    solver.save_checkpoint(tmp_path / "checkpoint.npz")

    # A new process would build everything afresh from the config, with another Generator state.
    resumed_model, resumed = make(data, seed=99, num_epochs=4)
    resumed.load_checkpoint(tmp_path / "checkpoint.npz")
    assert resumed.train() == "completed"
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
    assert solver.train() == "early_stopping"
    assert solver.epoch - solver.best_epoch == 2
    assert solver.epoch < 50


def test_augment_is_applied_to_training_batches_only():
    data = blobs()
    seen = []

    def augment(X, rng):
        seen.append(len(X))
        return X + rng.normal(0, 0.01, X.shape)

    model, solver = make(data, num_epochs=1, augment=augment)
    solver.train()
    assert sum(seen) == 300  # every training example once, no validation example


def test_check_accuracy_subsample_is_reproducible():
    data = blobs()
    model, solver = make(data, num_epochs=1)
    solver.train()
    full = solver.check_accuracy(data["X_train"], data["y_train"])
    expected = np.mean(np.argmax(model.loss(data["X_train"]), axis=1) == data["y_train"])
    assert full == pytest.approx(expected)
    assert solver.check_accuracy(
        data["X_train"], data["y_train"], num_samples=50
    ) == solver.check_accuracy(data["X_train"], data["y_train"], num_samples=50)
    assert np.isnan(solver.check_accuracy(data["X_val"][:0], data["y_val"][:0]))


def test_without_validation_data_the_best_epoch_follows_training_accuracy():
    data = blobs()
    data = {**data, "X_val": data["X_val"][:0], "y_val": data["y_val"][:0]}
    recorder = Recorder()
    model, solver = make(data, num_epochs=4, num_train_samples=None, callbacks=[recorder])
    solver.train()
    assert np.isnan(solver.best_val_acc)  # no validation accuracy is reported as one
    best = int(np.argmax([r["train_acc"] for r in recorder.records]))
    assert solver.best_epoch == best + 1
    np.testing.assert_array_equal(model.params["W1"], recorder.params[best]["W1"])
