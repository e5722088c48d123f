"""The model contract, written once.

Every model a Solver trains is a `TrainableModel`; every model a run folder saves is a
`SavedModel`. These are typing.Protocols: the classes do not inherit from them, they just
have these members, and `tests/models/test_contract.py` runs the same checks over each.
"""

from typing import Protocol, runtime_checkable

import numpy as np


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
    """

    params: dict
    reg: float
    rng: np.random.Generator | None

    def loss(self, X: np.ndarray, y: np.ndarray | None = None):
        """y None: test-mode scores (N, C). Else train mode: (loss float, grads like params)."""

    def state_arrays(self) -> dict:
        """Non-learned state a checkpoint must keep (batchnorm running averages); {} if none."""

    def load_state_arrays(self, state: dict) -> None:
        """Put back what state_arrays() returned."""
