"""Preprocessing fitted on the training split only and applied to every split.

Each step is a pair of functions: `fit(X_train) -> state` (a dict of arrays, possibly empty)
and `apply(X, state, out=None) -> X`, which writes into `out` (X itself) when the pipeline
owns X: CIFAR-10's training split is 602 MB in float32, and a new array per step had the
pipeline hold two of them at once. The states of a whole pipeline are plain arrays, so a saved
model can re-apply exactly the same transformation when it is evaluated later.
"""

import numpy as np

from nnctl.errors import DatasetError
from nnctl.registry import Registry


def _fit_mean(X):
    """The mean example (the course's mean image), float32."""
    return {"mean": X.mean(axis=0, dtype=np.float64).astype(np.float32)}


def _apply_mean(X, state, out=None):
    return np.subtract(X, state["mean"], out=out)


def _fit_standardize(X):
    """Per-feature mean and standard deviation (features with no spread get std 1)."""
    std = _std(X)
    std[std == 0] = 1.0
    return {**_fit_mean(X), "std": std.astype(np.float32)}


def _std(X, rows=1024):
    """X.std(axis=0) in float64, `rows` rows at a time: X.std(dtype=np.float64) makes a
    float64 copy of all of X (twice the float32 data) for its deviations."""
    mean = X.mean(axis=0, dtype=np.float64)
    squares = np.zeros(X.shape[1:], dtype=np.float64)
    for start in range(0, len(X), rows):
        deviation = X[start : start + rows] - mean
        squares += np.einsum("i...,i...->...", deviation, deviation)
    return np.sqrt(squares / max(len(X), 1))


def _apply_standardize(X, state, out=None):
    X = np.subtract(X, state["mean"], out=out)
    return np.divide(X, state["std"], out=X)


def _no_state(X):
    return {}


def _apply_scale(X, state, out=None):
    return np.multiply(X, np.float32(1 / 255), out=out)


def flatten(X, state=None, out=None):
    """(N, d1, ..., dk) -> (N, d1 * ... * dk), also for N = 0 (a view where X allows it)."""
    return X.reshape(len(X), int(np.prod(X.shape[1:])))


def _apply_channels_first(X, state, out=None):
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
    X_train itself is never changed.
    """
    X = _as_float32(X_train)
    states = []
    for name in steps:
        fit, apply = STEPS[name]
        state = fit(X)
        X = _apply(apply, X, state, X_train)
        states.append(state)
    return X, states


def apply_pipeline(steps, states, X):
    """Apply fitted steps to other data (validation, test, or new examples). float32 out;
    X itself is never changed."""
    given = X
    X = _as_float32(X)
    for name, state in zip(steps, states, strict=True):
        X = _apply(STEPS[name][1], X, state, given)
    return X


def _as_float32(X):
    """X as C-ordered float32, copied only if it is not that already. C order matters:
    CIFAR-10's images are a transposed view, a float32 copy would keep that layout, and
    `flatten` then copies the whole training split once more to make its rows."""
    return np.asarray(X, dtype=np.float32, order="C")


def _apply(apply, X, state, given):
    """One step, in place when X is the pipeline's own array (shares no memory with the
    caller's `given`; a converted copy or a step's result), else into a new array."""
    owned = not np.may_share_memory(X, given)
    return apply(X, state, out=X if owned and X.flags.writeable else None)


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
