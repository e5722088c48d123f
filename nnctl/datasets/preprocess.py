"""Preprocessing fitted on the training split only and applied to every split.

Each step is a pair of functions: `fit(X_train) -> state` (a dict of arrays, possibly empty)
and `apply(X, state) -> X`. The states of a whole pipeline are plain arrays, so a saved model
can re-apply exactly the same transformation when it is evaluated later.
"""

import numpy as np

from nnctl.errors import DatasetError
from nnctl.registry import Registry


def _fit_mean(X):
    """The mean example (the course's mean image), float32."""
    return {"mean": X.mean(axis=0, dtype=np.float64).astype(np.float32)}


def _apply_mean(X, state):
    return X - state["mean"]


def _fit_standardize(X):
    """Per-feature mean and standard deviation (features with no spread get std 1)."""
    std = X.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0
    return {**_fit_mean(X), "std": std.astype(np.float32)}


def _apply_standardize(X, state):
    return (X - state["mean"]) / state["std"]


def _no_state(X):
    return {}


def _apply_scale(X, state):
    return X * np.float32(1 / 255)


def flatten(X, state=None):
    """(N, d1, ..., dk) -> (N, d1 * ... * dk), also for N = 0."""
    return X.reshape(len(X), int(np.prod(X.shape[1:])))


def _apply_channels_first(X, state):
    if X.ndim != 4:
        raise DatasetError(f"channels_first needs images (N, H, W, C), got shape {X.shape}")
    return np.ascontiguousarray(X.transpose(0, 3, 1, 2))


STEPS = Registry(
    "preprocessing step",
    {
        "subtract_mean": (_fit_mean, _apply_mean),
        "standardize": (_fit_standardize, _apply_standardize),
        "scale": (_no_state, _apply_scale),
        "flatten": (_no_state, flatten),
        "channels_first": (_no_state, _apply_channels_first),
    },
)


def fit_pipeline(steps, X_train):
    """Fit each step on the training data as transformed by the steps before it.

    Returns (X_train transformed (float32), states): states[i] is the dict of step i.
    """
    X = np.asarray(X_train, dtype=np.float32)
    states = []
    for name in steps:
        fit, apply = STEPS[name]
        state = fit(X)
        X = apply(X, state)
        states.append(state)
    return X, states


def apply_pipeline(steps, states, X):
    """Apply fitted steps to other data (validation, test, or new examples). float32 out."""
    X = np.asarray(X, dtype=np.float32)
    for name, state in zip(steps, states, strict=True):
        X = STEPS[name][1](X, state)
    return X


def states_to_arrays(steps, states):
    """Flatten pipeline states to {'preprocess/<i>/<step>/<key>': array} for an .npz file."""
    return {
        f"preprocess/{i}/{name}/{key}": value
        for i, (name, state) in enumerate(zip(steps, states, strict=True))
        for key, value in state.items()
    }


def states_from_arrays(steps, arrays):
    """The inverse of states_to_arrays, for the same list of steps."""
    states = [{} for _ in steps]
    for full_key, value in arrays.items():
        parts = full_key.split("/")
        if len(parts) == 4 and parts[0] == "preprocess":
            i, name, key = int(parts[1]), parts[2], parts[3]
            if i >= len(steps) or steps[i] != name:
                raise DatasetError(
                    f"saved preprocessing state {full_key} does not match the steps {steps}"
                )
            states[i][key] = value
    for name, state in zip(steps, states, strict=True):
        expected = set(STEPS[name][0](np.zeros((2, 1), dtype=np.float32)))
        if set(state) != expected:
            raise DatasetError(f"saved preprocessing state for {name} is incomplete")
    return states
