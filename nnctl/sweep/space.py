"""Search spaces: a config's `sweep:` block expanded into validated trial configs.

sweep:
  method: grid | random | tpe      # tpe: points proposed by Optuna (nnctl.sweep.tpe)
  trials: 20                       # random search and tpe only
  repeats: 2                       # training seeds per point
  order: shuffled                  # grid: run the points in an order shuffled by the seed
  params:
    train.learning_rate: [1e-3, 2e-3]                 # a list: every value (grid) or a choice
    model.hidden_dims: [[100], [200, 100]]            # values may themselves be lists
    model.reg: {log_uniform: [1e-5, 1e-1]}            # random search distributions:
    model.dropout: {uniform: [0.0, 0.5]}              #   uniform, log_uniform, int_uniform
"""

import copy
import hashlib
import itertools
import json
import logging
import math
from dataclasses import dataclass

import numpy as np

from nnctl.config import set_dotted, validate
from nnctl.errors import ConfigError
from nnctl.sweep import scheduler

log = logging.getLogger(__name__)
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")
DRAWS_PER_POINT = 20  # random search gives up looking for new points after this many draws each


@dataclass
class Trial:
    """One point of the search (and one of its repeats) with its full config."""

    number: int  # 1-based, in expansion order
    params: dict  # dotted key -> value, the swept values only
    repeat: int  # 0-based index among the point's repeats
    config: object  # ExperimentConfig
    id: str  # a hash of the resolved config: the same point never runs twice

    @property
    def point(self):
        """The point this trial repeats (its params as a hashable key)."""
        return json.dumps(self.params, sort_keys=True)


def config_id(config):
    blob = json.dumps(config.model_dump(mode="json", exclude={"sweep"}), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _check_space(sweep):
    if not sweep.params:
        raise ConfigError("sweep.params is empty: name at least one dotted key and its values")
    for key, spec in sweep.params.items():
        if key.split(".")[0] in ("sweep", "name"):
            raise ConfigError(f"sweep.params.{key}: the sweep itself and the name cannot be swept")
        if isinstance(spec, list):
            if not spec:
                raise ConfigError(f"sweep.params.{key}: the list of values is empty")
            continue
        if sweep.method == "grid":
            raise ConfigError(f"sweep.params.{key}: a grid needs a list of values, got {spec!r}")
        if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in DISTRIBUTIONS):
            raise ConfigError(
                f"sweep.params.{key}: expected a list or one of {', '.join(DISTRIBUTIONS)} "
                f"with [low, high], got {spec!r}"
            )
        (kind, bounds), = spec.items()  # fmt: skip
        if not (
            isinstance(bounds, list)
            and len(bounds) == 2
            and all(isinstance(b, (int, float)) for b in bounds)
        ):
            raise ConfigError(f"sweep.params.{key}.{kind}: expected [low, high], got {bounds!r}")
        low, high = bounds
        if not low < high or (kind == "log_uniform" and low <= 0):
            raise ConfigError(
                f"sweep.params.{key}.{kind}: need low < high (and low > 0 for logs), got {bounds}"
            )


def _draw(spec, rng):
    if isinstance(spec, list):
        return copy.deepcopy(spec[int(rng.integers(len(spec)))])
    (kind, (low, high)), = spec.items()  # fmt: skip
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    return int(rng.integers(int(low), int(high) + 1))


def points(config):
    """The list of param dicts the sweep block describes (before repeats)."""
    sweep = config.sweep
    if sweep is None:
        raise ConfigError(
            "the config has no sweep: block (see configs/cifar10_twolayer.yaml for one)"
        )
    _check_space(sweep)
    scheduler.check(config)
    keys = list(sweep.params)
    if sweep.method == "grid":
        if sweep.trials is not None:
            raise ConfigError("sweep.trials is for random search; a grid runs every combination")
        grid = [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*sweep.params.values())
        ]
        if sweep.order == "shuffled":  # a stream of its own, so the draws below are unchanged
            rng = np.random.default_rng(np.random.SeedSequence([config.seed, 0x5EE9, 1]))
            grid = [grid[i] for i in rng.permutation(len(grid))]
        return grid
    if sweep.method == "tpe":
        return []  # Optuna proposes them while the sweep runs (nnctl.sweep.tpe)
    if sweep.trials is None:
        raise ConfigError("random search needs sweep.trials (how many points to draw)")
    rng = np.random.default_rng(
        np.random.SeedSequence([config.seed, 0x5EE9])
    )  # the sweep's own stream
    return _distinct_draws(config, keys, rng)


def _distinct_draws(config, keys, rng):
    """sweep.trials random points, none the same as another: a draw whose config (hash)
    was drawn before is drawn again. A space with fewer distinct points (choices only) gives
    what it has, with a warning."""
    base = config.model_dump(mode="json")
    wanted = config.sweep.trials
    drawn, seen = [], set()
    for _ in range(DRAWS_PER_POINT * wanted):
        params = {key: _draw(config.sweep.params[key], rng) for key in keys}
        identity = _identity(base, params)
        if identity not in seen:
            seen.add(identity)
            drawn.append(params)
            if len(drawn) == wanted:
                return drawn
    log.warning(
        "random search: %d distinct points found in %d draws (sweep.trials is %d)",
        len(drawn), DRAWS_PER_POINT * wanted, wanted,
    )  # fmt: skip
    return drawn


def _identity(base, params):
    """The config hash of a point (its first repeat), or its params for an invalid point
    (expand reports those)."""
    data = copy.deepcopy(base)
    for key, value in params.items():
        set_dotted(data, key, copy.deepcopy(value))
    try:
        return config_id(validate(data))
    except ConfigError:
        return json.dumps(params, sort_keys=True)


def expand(config):
    """Every trial of config's sweep, each validated; one invalid point stops everything
    before anything runs, naming the point. Returns a list of Trial."""
    base = config.model_dump(mode="json")
    trials, seen, problems = [], set(), []
    number = 0
    for params in points(config):
        for repeat in range(config.sweep.repeats):
            data = copy.deepcopy(base)
            for key, value in params.items():
                set_dotted(data, key, copy.deepcopy(value))
            data["seed"] = base["seed"] + repeat
            described = ", ".join(f"{k}={v}" for k, v in params.items())
            try:
                trial_config = validate(data, source=f"sweep point ({described})")
            except ConfigError as err:
                problems.append(str(err))
                continue
            trial_id = config_id(trial_config)
            if trial_id in seen:
                continue  # the same resolved config twice (e.g. a repeated choice): run it once
            seen.add(trial_id)
            number += 1
            trials.append(Trial(number, params, repeat, trial_config, trial_id))
    if problems:
        raise ConfigError("invalid sweep point(s):\n" + "\n".join(dict.fromkeys(problems)))
    return trials


def edge_warnings(config, trials, best_params):
    """Warnings for swept numeric parameters whose best value lies on the edge of the
    searched range (the course's advice: widen the range there)."""
    warnings = []
    for key, spec in config.sweep.params.items():
        value = best_params.get(key)
        if not _is_number(value):
            continue
        if isinstance(spec, list):
            numbers = sorted({v for v in spec if _is_number(v)})
            if len(numbers) < 3 or len(numbers) != len(spec):
                continue  # with two values every value is an edge; mixed lists have no range
            low, high = numbers[0], numbers[-1]
            at_low, at_high = value == low, value == high
        else:
            (kind, (low, high)), = spec.items()  # fmt: skip
            scale = math.log if kind == "log_uniform" else float
            span = scale(high) - scale(low)
            at_low = scale(value) - scale(low) < 0.1 * span
            at_high = scale(high) - scale(value) < 0.1 * span
        if at_low or at_high:
            side = "lowest" if at_low else "highest"
            warnings.append(
                f"the best {key} = {value:g} is at the {side} end of the searched range "
                f"[{low:g}, {high:g}]: "
                "widen the range on that side"
            )
    return warnings


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def show(value):
    """A swept value for people: a float with at most 4 significant digits (3 when it needs
    more, as a random draw does: 0.000123 rather than 0.00012345678; whole units from 1000
    up); the stored value stays exact."""
    if isinstance(value, float):
        short = f"{value:.4g}"
        if float(short) == value:
            return short
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return str(value)


def describe(params, sep="  "):
    """'train.learning_rate=0.000123  model.reg=0.05'."""
    return sep.join(f"{key}={show(value)}" for key, value in params.items())
