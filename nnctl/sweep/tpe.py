"""TPE search through Optuna's ask/tell interface (`pip install 'nnctl[optuna]'`).

sweep:
  method: tpe
  trials: 40                                   # points Optuna proposes, one trial each
  params:
    train.learning_rate: {log_uniform: [1e-4, 1e-2]}
    model.hidden_dims: [[50], [100], [200]]    # a list: a categorical choice

Optuna only proposes points (ask) and is told their results (tell); nnctl owns the trials,
their folders, the executors and resume. The study is stored in the sweep folder
(`optuna.db`, SQLite: `optuna-dashboard sqlite:///<sweep folder>/optuna.db` opens it), and it
is the record of what was proposed: trial k of the sweep is the study's k-th proposal whose
config is valid (an invalid one is told failed and never becomes a trial) and new (a point
already proposed, as TPE does over categorical choices, is a copy: it is told its original's
result and not trained again). sweep.yaml lists the trials proposed so far, rewritten after
each proposal.

    a trial ...                     the study is told
    completed                       its metric (the value in results.csv)
    failed, diverged                state FAIL (no value)
    interrupted, not run yet        nothing: it is still running in the study; resume runs it

A new point is proposed as each trial ends, keeping as many trials in flight as there are
workers, until sweep.trials have been proposed. A resumed sweep rebuilds its trials from the
study, tells it the trials that ended after the last tell (a SIGKILL between the two), runs
the ones without a result and proposes the rest: none is lost or run twice. The sampler is
seeded from the config's seed and the number of proposals so far, so a sweep on one worker is
reproducible.
"""

import copy
import json
import logging

import numpy as np

from nnctl.config import set_dotted, to_yaml, validate
from nnctl.errors import ConfigError
from nnctl.status import Status
from nnctl.sweep.space import Trial, config_id

log = logging.getLogger(__name__)
STUDY_FILE = "optuna.db"
MAX_WASTED = 20  # proposals in a row that are invalid or copies before proposing stops
_PLAIN = (type(None), bool, int, float, str)  # what Optuna takes as categorical choices


def uses_tpe(config):
    """Whether config's sweep has its points proposed by Optuna (sweep.method: tpe)."""
    return config.sweep is not None and config.sweep.method == "tpe"


def import_optuna():
    """The optuna module, or a one-line ConfigError (exit 2) saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "sweep.method tpe needs Optuna, which is not installed: pip install 'nnctl[optuna]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # nnctl logs each trial itself
    return optuna


def check(config):
    """ConfigError for a tpe sweep that cannot run (before anything is created): Optuna
    missing, or settings tpe does not take."""
    sweep = config.sweep
    if sweep.trials is None:
        raise ConfigError("sweep.method tpe needs sweep.trials (how many points to propose)")
    if sweep.repeats != 1:
        raise ConfigError("sweep.repeats: tpe runs each proposed point once (repeats: 1)")
    if sweep.scheduler is not None:
        raise ConfigError("sweep.scheduler: not available with sweep.method tpe")
    for key in sweep.params:
        if key.split(".")[0] == "data":  # loaded once, before the first point is proposed
            raise ConfigError(f"sweep.params.{key}: tpe cannot search data settings")
    import_optuna()
    for key, value in _edges(sweep.params):
        if _trial(config, 0, {key: value}) is None:
            raise ConfigError(
                f"sweep.params.{key}: the value {value!r} it can take gives an invalid config"
            )


def _edges(params):
    """(key, value) of every choice and both ends of every range: the points checked before
    the sweep starts (the ones proposed later lie between them)."""
    for key, spec in params.items():
        values = spec if isinstance(spec, list) else next(iter(spec.values()))
        for value in values:
            yield key, value


def study_path(folder):
    return folder.path / STUDY_FILE


def _choices(values):
    """Categorical choices as Optuna takes them: the values themselves when plain, else
    their JSON text (lists such as hidden_dims)."""
    if all(isinstance(v, _PLAIN) for v in values):
        return tuple(values)
    return tuple(json.dumps(v) for v in values)


def distributions(config):
    """{dotted key: Optuna distribution} of the sweep's params, from nnctl's own spellings."""
    optuna = import_optuna()
    dists = optuna.distributions
    out = {}
    for key, spec in config.sweep.params.items():
        if isinstance(spec, list):
            out[key] = dists.CategoricalDistribution(_choices(spec))
            continue
        (kind, (low, high)), = spec.items()  # fmt: skip
        if kind == "int_uniform":
            out[key] = dists.IntDistribution(int(low), int(high))
        else:
            out[key] = dists.FloatDistribution(low, high, log=kind == "log_uniform")
    return out


def point(config, optuna_params):
    """nnctl's params (in the order of sweep.params) of the values Optuna proposed."""
    params = {}
    for key, spec in config.sweep.params.items():
        value = optuna_params[key]
        if isinstance(spec, list):
            value = copy.deepcopy(spec[_choices(spec).index(value)])
        params[key] = value
    return params


def _trial(config, number, params):
    """Trial `number` of the point `params`, or None when its config is invalid."""
    data = config.model_dump(mode="json")
    for key, value in params.items():
        set_dotted(data, key, copy.deepcopy(value))
    try:
        trial_config = validate(data)
    except ConfigError:
        return None
    return Trial(number, params, 0, trial_config, config_id(trial_config))


def stand_in(config):
    """A trial with the base config, for what is checked and loaded before the study has
    proposed any point (the data: tpe searches no data setting)."""
    return Trial(0, {}, 0, config, config_id(config))


def _load(config, folder, create):
    optuna = import_optuna()
    url = f"sqlite:///{study_path(folder)}"
    if not create:
        return optuna.load_study(study_name=config.name, storage=url)
    return optuna.create_study(
        study_name=config.name, storage=url, direction="maximize", load_if_exists=True
    )


def _rebuild(config, study):
    """(trials, study numbers, copies) of the study's proposals: trial k is the k-th one whose
    values are all stored and whose config is valid and new; numbers[k - 1] is its number in
    the study; copies maps a trial's number to the study numbers of later proposals of the
    same config."""
    trials, numbers, copies, by_id = [], [], {}, {}
    for frozen in study.get_trials(deepcopy=False):
        if set(frozen.params) != set(config.sweep.params):  # asked, values never stored
            continue
        trial = _trial(config, len(trials) + 1, point(config, frozen.params))
        if trial is None:
            continue
        if trial.id in by_id:
            copies.setdefault(by_id[trial.id].number, []).append(frozen.number)
            continue
        by_id[trial.id] = trial
        trials.append(trial)
        numbers.append(frozen.number)
    return trials, numbers, copies


def proposed(config, folder):
    """The trials of a tpe sweep folder so far, rebuilt from its study (none if the study
    was never created)."""
    if not study_path(folder).is_file():
        return []
    return _rebuild(config, _load(config, folder, create=False))[0]


def still_to_propose(config, trials):
    """How many more points a sweep will propose (0 for grid and random search)."""
    return max(0, config.sweep.trials - len(trials)) if uses_tpe(config) else 0


class TpePlan:
    """The plan (see nnctl.sweep.scheduler) of a tpe sweep in the sweep folder `folder`.
    `trials` is the sweep's list of trials: proposed points are appended to it.
    metric_of(trial): the trial's result as results.csv has it, None without one."""

    def __init__(self, config, folder, trials, workers, metric_of):
        self.optuna = import_optuna()
        self.config = config
        self.folder = folder
        self.trials = trials
        self.workers = workers
        self.metric_of = metric_of
        self.study = _load(config, folder, create=True)
        self.distributions = distributions(config)
        # The sampler's own stream, seeded anew at each (re)start so a resumed sweep does
        # not propose the first points again.
        seed = np.random.SeedSequence([config.seed, 0x79E, len(self.study.trials)])
        self.study.sampler = self.optuna.samplers.TPESampler(seed=int(seed.generate_state(1)[0]))
        rebuilt, self.numbers, self.copies = _rebuild(config, self.study)
        assert [t.id for t in rebuilt] == [t.id for t in trials], "trials differ from the study"
        self.by_id = {trial.id: trial for trial in trials}
        self.in_flight = 0
        self.exhausted = False  # proposals kept giving invalid configs or copies

    def fill(self, queue, pending):
        """Tell the study what ended since it was last told; queue the pending trials, then
        proposals up to one per worker."""
        waiting = {trial.number for trial in pending}
        for trial in self.trials:
            if trial.number not in waiting:
                self._tell(trial)
        for trial in pending:
            queue.add(trial, None)
        self.in_flight = len(pending)
        while self.in_flight < self.workers and self._propose(queue):
            pass

    def decide(self, trial, queue):  # nothing pauses
        raise AssertionError(f"trial {trial.number} paused in a tpe sweep")

    def finished(self, trial, queue, propose=True):
        """A trial ended: tell the study, and propose the next point (unless stopping)."""
        self.in_flight -= 1
        self._tell(trial)
        if propose:
            while self.in_flight < self.workers and self._propose(queue):
                pass

    def _tell(self, trial):
        """Tell the study how a trial that ended did, for its own proposal and its copies
        (nothing for one that did not end)."""
        path = self.folder.trial_path(trial.number)
        status = self.folder.trial(trial.number).status() if path.exists() else None
        if status is None or not status.finished or status is Status.INTERRUPTED:
            return
        value = self.metric_of(trial)
        proposals = self.study.get_trials(deepcopy=False)  # one read of the study's storage
        for number in [self.numbers[trial.number - 1], *self.copies.get(trial.number, [])]:
            if proposals[number].state.is_finished():
                continue
            if value is None:
                self.study.tell(number, state=self.optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(number, value)

    def _propose(self, queue):
        """Ask the study for the next point; queue it as a trial. False when sweep.trials
        have been proposed, or when proposals keep giving invalid configs or copies."""
        wasted = 0
        while len(self.trials) < self.config.sweep.trials and not self.exhausted:
            asked = self.study.ask(self.distributions)
            trial = _trial(self.config, len(self.trials) + 1, point(self.config, asked.params))
            if trial is None:
                self.study.tell(asked, state=self.optuna.trial.TrialState.FAIL)
            elif trial.id in self.by_id:  # a copy: its original's result, now or when it ends
                original = self.by_id[trial.id]
                self.copies.setdefault(original.number, []).append(asked.number)
                self._tell(original)
            else:
                self.trials.append(trial)
                self.by_id[trial.id] = trial
                self.numbers.append(asked.number)
                self._write_listing()
                queue.add(trial, None)
                self.in_flight += 1
                return True
            wasted += 1
            if wasted == MAX_WASTED:
                log.warning(
                    "tpe: %d proposals in a row were invalid configs or points already "
                    "tried; no more",
                    wasted,
                )
                self.exhausted = True
        return False

    def _write_listing(self):
        self.folder.write_spec(
            self.config.model_dump(mode="json"), to_yaml(self.config), self.trials
        )
