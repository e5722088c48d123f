"""Which trial a free worker runs next, for how many epochs, and which trials stop early.

Without a scheduler every trial trains all its epochs, in trial order. With
`sweep.scheduler: {type: asha, min_epochs: m, reduction_factor: rf}` a sweep runs ASHA,
asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter
Tuning", MLSys 2020), over epochs:

- Rungs lie at m, m*rf, m*rf^2, ... epochs, below train.epochs (the last epoch of every trial).
- A trial trains up to its next rung and pauses there (status `paused`, a checkpoint left).
  Its rung metric is the sweep's metric at that epoch (val_acc: the best validation accuracy
  so far), read from its history.csv.
- It is promoted if it ranks in the top 1/rf of the trials that reached that rung so far,
  itself included: rank <= ceil(n / rf), rank 1 + the number of earlier arrivals with a
  metric at least as good. Promoted, it continues from its checkpoint to the next rung (or to
  the end), with exactly the numbers of a trial trained straight through. Otherwise it ends
  `stopped`, with the reason in its summary: "rung 2 (6 epochs): rank 7 of 9".
- Decisions are made the moment a trial arrives (no waiting for a whole rung), so every worker
  stays busy; the next job handed to the workers is a promoted trial if one waits (in the
  order they were promoted), else the next trial not started yet.

Every decision is recorded in the trial's summary.json (`rungs`: rung, epochs, metric, rank,
of, seq, decision), and the scheduler's state is read back from the trial folders at every
decision, never kept in memory: a sweep resumed after a SIGKILL makes the decisions an
uninterrupted one would have made. A finished trial without records (one reused from
another sweep by --extend) counts at each rung it passed, as arriving before every other.
"""

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from nnctl.errors import ConfigError
from nnctl.models import MODEL_TYPES
from nnctl.status import Status

PROMOTED, STOPPED = "promoted", "stopped"
# history.csv's column holding each sweep metric, and how it gives a rung's value.
HISTORY_COLUMN = {"val_acc": "val_acc", "train_acc": "train_acc"}


@dataclass(frozen=True)
class Rungs:
    """The epochs at which trials pause: min_epochs * rf^k for k = 0, 1, ... below
    max_epochs (train.epochs, where every promoted trial ends)."""

    epochs: tuple
    max_epochs: int

    @classmethod
    def of(cls, min_epochs, reduction_factor, max_epochs):
        epochs, e = [], min_epochs
        while e < max_epochs:
            epochs.append(e)
            e *= reduction_factor
        return cls(tuple(epochs), max_epochs)

    def after(self, epochs):
        """The epoch to train up to next from `epochs` trained: the next rung, or None (to
        the end)."""
        return next((e for e in self.epochs if e > epochs), None)

    def number(self, epochs):
        """1-based rung number of the rung at `epochs`."""
        return self.epochs.index(epochs) + 1


def check(config):
    """ConfigError for a scheduler that cannot work with this config (before anything runs)."""
    scheduler = config.sweep.scheduler
    if scheduler is None:
        return
    if "train.epochs" in config.sweep.params:
        raise ConfigError(
            "sweep.params.train.epochs: cannot be swept with a scheduler (its rungs lead up to "
            "train.epochs, the same last epoch for every trial)"
        )
    if scheduler.min_epochs >= config.train.epochs:
        raise ConfigError(
            f"sweep.scheduler.min_epochs ({scheduler.min_epochs}) must be less than "
            f"train.epochs ({config.train.epochs}): there is no rung to stop trials at"
        )


def decide(metric, earlier, reduction_factor):
    """(rank, n, promoted) of a trial arriving at a rung with `metric`, after the trials with
    metrics `earlier`: rank 1 + the number of earlier ones at least as good (a tie does not
    displace an earlier arrival; None, no metric, ranks last); promoted iff it is in the top
    1/reduction_factor of the n = len(earlier) + 1 trials, rounding up (so the first arrival
    is always promoted)."""
    score = -math.inf if metric is None else metric
    rank = 1 + sum((-math.inf if m is None else m) >= score for m in earlier)
    n = len(earlier) + 1
    return rank, n, rank <= math.ceil(n / reduction_factor)


def rung_metric(history, epochs, metric):
    """The sweep's metric after `epochs` epochs, from history.csv's records: val_acc is the
    best validation accuracy up to then (what the trial's best_val_acc was), train_acc the
    training accuracy of that epoch. None when there is no such value."""
    rows = [r for r in history if r["epoch"] <= epochs]
    column = HISTORY_COLUMN[metric]
    if metric == "val_acc":
        values = [r[column] for r in rows if r.get(column) is not None]
        return max(values) if values else None
    return rows[-1].get(column) if rows and rows[-1]["epoch"] == epochs else None


def describe(record):
    """'rung 2 (6 epochs): rank 7 of 9' (a stopped trial's reason)."""
    rung, epochs, rank, of = (record[k] for k in ("rung", "epochs", "rank", "of"))
    return f"rung {rung} ({epochs} epoch{'s' if epochs != 1 else ''}): rank {rank} of {of}"


# -- the queue of waiting trials ----------------------------------------------------------------


class TrialQueue:
    """Trials waiting for a worker, as (trial, pause_at): promoted ones first, in the order
    they were promoted, then the ones not started, in trial order. An executor pops jobs
    from it (make_job(trial, pause_at)) as workers free up."""

    def __init__(self, make_job):
        self.make_job = make_job
        self.promoted = deque()
        self.fresh = deque()

    def add(self, trial, pause_at, promoted=False):
        (self.promoted if promoted else self.fresh).append((trial, pause_at))

    def __bool__(self):
        return bool(self.promoted or self.fresh)

    def __len__(self):
        return len(self.promoted) + len(self.fresh)

    def popleft(self):
        trial, pause_at = (self.promoted or self.fresh).popleft()
        return self.make_job(trial, pause_at)


# -- plans: the scheduler of one sweep -----------------------------------------------------------


# A plan has fill(queue, pending) (queue the pending trials of a new or resumed sweep),
# decide(trial, queue) (a trial paused at a rung) and finished(trial, queue, propose) (a trial
# ended; propose: the sweep is not stopping). nnctl.sweep.tpe.TpePlan is the third.


class FullPlan:
    """No scheduler: every pending trial once, to its last epoch."""

    def fill(self, queue, pending):
        for trial in pending:
            queue.add(trial, None)

    def decide(self, trial, queue):  # nothing pauses
        raise AssertionError(f"trial {trial.number} paused in a sweep without a scheduler")

    def finished(self, trial, queue, propose=True):  # an ended trial queues nothing new
        pass


class AshaPlan:
    """ASHA over the trials of the sweep folder `folder` (see the module's docstring)."""

    def __init__(self, config, folder, trials):
        scheduler = config.sweep.scheduler
        self.rungs = Rungs.of(scheduler.min_epochs, scheduler.reduction_factor, config.train.epochs)
        self.reduction_factor = scheduler.reduction_factor
        self.metric = config.sweep.metric
        self.folder = folder
        self.trials = trials

    def fill(self, queue, pending):
        """Queue the pending trials of a new or resumed sweep where the records leave them: a
        paused trial whose rung was not decided yet is decided now (in the order they
        paused); a promoted one continues to its next rung; the others go to their first."""
        undecided, promoted = [], []
        for trial in pending:
            summary = self._summary(trial)
            records = summary.get("rungs", [])
            decided = bool(records) and records[-1]["epochs"] == summary.get("epochs")
            if summary.get("status") == Status.PAUSED.value and not decided:
                undecided.append((summary.get("finished", 0), trial.number, trial))
            elif records:  # promoted at its last rung (a stopped trial is not pending)
                promoted.append((records[-1]["seq"], trial))
            else:
                queue.add(trial, self.rungs.after(0))
        for _, trial in sorted(promoted, key=lambda item: item[0]):
            queue.add(trial, self.rungs.after(self._summary(trial)["rungs"][-1]["epochs"]), True)
        for *_, trial in sorted(undecided, key=lambda item: item[:2]):
            self.decide(trial, queue)

    def decide(self, trial, queue):
        """Decide a trial that paused at a rung: record the decision in its folder, queue it
        if promoted. Returns (status, reason): paused (promoted) or stopped."""
        run = self.folder.trial(trial.number)
        summary = run.read_summary()
        epochs = summary["epochs"]
        metric = rung_metric(run.read_history(), epochs, self.metric)
        arrivals = self.arrivals()
        earlier = [m for e, m, _ in arrivals if e == epochs]
        rank, n, promoted = decide(metric, earlier, self.reduction_factor)
        record = {
            "rung": self.rungs.number(epochs),
            "epochs": epochs,
            "metric": metric,
            "rank": rank,
            "of": n,
            "seq": 1 + max((seq for *_, seq in arrivals), default=0),
            "decision": PROMOTED if promoted else STOPPED,
        }
        records = [*summary.get("rungs", []), record]
        reason = describe(record)
        with run.lock():
            if promoted:
                run.update_summary(rungs=records)
            else:
                run.update_summary(rungs=records, status=Status.STOPPED, stop_reason=reason)
        if promoted:
            queue.add(trial, self.rungs.after(epochs), promoted=True)
            return Status.PAUSED.value, reason
        return Status.STOPPED.value, reason

    def finished(self, trial, queue, propose=True):  # decisions happen at the rungs
        pass

    def arrivals(self):
        """(epochs, metric, seq) of every arrival at a rung so far, read from the trial
        folders."""
        out = []
        for trial in self.trials:
            summary = self._summary(trial)
            records = summary.get("rungs")
            if records:
                out += [(r["epochs"], r["metric"], r["seq"]) for r in records]
            elif summary.get("status") == Status.COMPLETED.value:  # e.g. reused by --extend
                history = self.folder.trial(trial.number).read_history()
                out += [
                    (e, rung_metric(history, e, self.metric), 0)
                    for e in self.rungs.epochs
                    if e <= summary.get("epochs", 0)
                ]
        return out

    def _summary(self, trial):
        path = self.folder.trial_path(trial.number)
        return self.folder.trial_summary(trial.number) if path.exists() else {}


def make_plan(config, folder, trials):
    if config.sweep.scheduler is None:
        return FullPlan()
    return AshaPlan(config, folder, trials)


# -- what a scheduler saved, and whether early epochs predict the final ranking -------------------


def epoch_counts(folder, trials):
    """{"trained": epochs the sweep's trials trained, "full": epochs they would train if each
    went to its last}; trials reused from another sweep (--extend) are left out of both and
    counted as "reused"."""
    trained = full = reused = 0
    for trial in trials:
        path = folder.trial_path(trial.number)
        summary = folder.trial_summary(trial.number) if path.exists() else {}
        if summary.get("reused_from"):
            reused += 1
            continue
        trained += summary.get("epochs") or 0
        full += trial.config.train.epochs
    counts = {"trained": trained, "full": full}
    if reused:
        counts["reused"] = reused
    return counts


def spearman(a, b):
    """Spearman's rank correlation of two equal-length sequences (ties get their mean rank);
    None for fewer than 3 pairs or a constant sequence."""
    if len(a) < 3:
        return None
    ra, rb = _ranks(np.asarray(a, dtype=float)), _ranks(np.asarray(b, dtype=float))
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x):
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):  # ties share their mean rank
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def early_rank_correlation(histories, finals, metric, max_epochs, rungs=(1, 3)):
    """{epoch: Spearman correlation between the metric after `epoch` epochs and the final
    metric} over trials that ran fully (histories and finals in the same order), for ASHA's
    default rungs (1, 3, 9, ... epochs) below max_epochs. A value near 1 says early epochs
    rank the trials as their last does, so early stopping would have been trustworthy."""
    min_epochs, factor = rungs
    out = {}
    for epochs in Rungs.of(min_epochs, factor, max_epochs).epochs:
        early = [rung_metric(h, epochs, metric) for h in histories]
        pairs = [(e, f) for e, f in zip(early, finals, strict=True) if e is not None]
        value = spearman([e for e, _ in pairs], [f for _, f in pairs])
        if value is not None:
            out[epochs] = round(value, 4)
    return out


def effort_lines(effort, metric):
    """What training_effort() found, as lines for the console: 'trained 87 of the 432 epochs
    a full run would (20%)' and the early rank correlations."""
    lines = []
    counts = effort.get("epochs")
    if counts:
        full = counts["full"]
        share = f" ({counts['trained'] / full:.0%})" if full else ""
        line = f"trained {counts['trained']} of the {full} epochs a full run would{share}"
        if counts.get("reused"):
            line += f"; {counts['reused']} trials reused from another sweep"
        lines.append(line)
    if effort.get("rank_correlation"):
        rho = ", ".join(f"epoch {e}: {r:+.2f}" for e, r in effort["rank_correlation"].items())
        lines.append(f"rank correlation of early and final {metric} ({rho})")
    return lines


def training_effort(folder, trials, config, finals, ran_fully):
    """What a sweep's training cost, for summary.json: {"epochs": epoch_counts()} and, for a
    sweep that ran fully without a scheduler, {"rank_correlation": {epoch: rho}} over its
    completed trials (finals: {trial number: final metric}). {} for untrained models."""
    if not MODEL_TYPES[config.model.type].trainable:
        return {}
    out = {"epochs": epoch_counts(folder, trials)}
    if ran_fully and config.sweep.scheduler is None and len(finals) >= 3:
        numbers = sorted(finals)
        correlation = early_rank_correlation(
            [folder.trial(n).read_history() for n in numbers],
            [finals[n] for n in numbers],
            config.sweep.metric,
            config.train.epochs,
        )
        if correlation:
            out["rank_correlation"] = {str(e): rho for e, rho in correlation.items()}
    return out
