"""The model contract, written once.

Every model a Solver trains is a `TrainableModel`; every model a run folder saves is a
`SavedModel`. These are typing.Protocols: the classes do not inherit from them, they just
have these members, and `tests/models/test_contract.py` runs the same checks over each.
"""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Metric:
    """What the Solver measures after every epoch (model.score) and how it picks the best.

    name: the history columns are train_<name> and val_<name>; label: how logs say it."""

    name: str
    label: str
    higher_is_better: bool


ACCURACY = Metric("acc", "acc", True)
RECONSTRUCTION_ERROR = Metric("error", "error", False)


@runtime_checkable
class SavedModel(Protocol):
    """What a run folder stores and rebuilds (no pickles): plain settings and named arrays."""

    def spec(self) -> dict:
        """The settings as plain data, with "type": its name in nnctl.models.MODEL_TYPES."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,) int64 for inputs X (N, ...)."""


@runtime_checkable
class TrainableModel(SavedModel, Protocol):
    """What the Solver needs (the course's contract, plus the extras it always relied on).

    params    learnable arrays by name (W1, b1, ...); the Solver replaces them after each
              update and saves them in checkpoints
    reg       L2 strength, read at every call of loss()
    rng       the numpy Generator the model draws from while training (dropout masks), or
              None; its state is checkpointed so a resumed run draws the same masks
    metric    what score() measures and whether higher is better
    """

    params: dict
    reg: float
    rng: np.random.Generator | None
    metric: Metric  # ACCURACY for classifiers, RECONSTRUCTION_ERROR for autoencoders

    def loss(self, X: np.ndarray, y: np.ndarray | None = None):
        """y None: test-mode scores (N, C). Else train mode: (loss float, grads like params)."""

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """The metric on (X, y): accuracy for a classifier, reconstruction error for an
        autoencoder (which ignores y)."""

    def state_arrays(self) -> dict:
        """Non-learned state a checkpoint must keep (batchnorm running averages); {} if none."""

    def load_state_arrays(self, state: dict) -> None:
        """Put back what state_arrays() returned."""
