"""BLAS threads: a fixed count, or `auto`, the count that is fastest *now*.

On a shared machine the best thread count changes while a run trains. With every core
free, one BLAS thread per core is fastest; once another process takes a core, a thread per
core makes every matrix product wait for the thread that shares its core (measured on a 2-core
machine, a 3072-[100]x5-10 net: quiet, 1 thread 33k samples/s and 2 threads 43k; beside a busy
loop, 1 thread 27-32k and 2 threads 13-17k). So `auto` times a few training steps at each
candidate count, keeps the fastest, and checks again periodically and whenever the step time
drifts away from what it measured.

Counts are set through threadpoolctl on the libraries already loaded (environment variables
such as OMP_NUM_THREADS are read only when a library loads, so setting them later does
nothing). With NumPy's OpenBLAS the numbers do not depend on the count (products are split
by rows and columns of the result, not along the summed dimension).

    ThreadTuner     the decision alone: fed step durations, says which count runs next
    AutoThreads     a Solver callback that runs a ThreadTuner on the training steps
    FixedThreads    a Solver callback holding one count for the whole run
    ThreadSetting   what the user asked for (--threads / NNCTL_THREADS), and what a sweep
                    worker may use; makes the callback, or applies itself to one computation
"""

import logging
import math
import statistics
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from nnctl.machine import cpu_count
from nnctl.training.solver import Callback

log = logging.getLogger(__name__)

AUTO = "auto"


def parse_threads(value):
    """--threads / NNCTL_THREADS: 'auto' or a whole number >= 1 (str or int). Returns AUTO or
    the int; ValueError saying what was expected otherwise."""
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    try:
        count = int(text)
    except ValueError:
        count = None
    if count is None or count < 1:
        raise ValueError(f"threads must be 'auto' or a whole number >= 1, got {value!r}")
    return count


def candidate_counts(most):
    """The counts auto tries with at most `most` threads: 1, 2, 4, ... and `most` itself."""
    counts, n = {1, most}, 2
    while n < most:
        counts.add(n)
        n *= 2
    return sorted(counts)


class ThreadTuner:
    """Which thread count the next step runs at, from the durations of the steps so far.

    A probe times `probe_steps` steps at each candidate, taking turns (1, 2, 1, 2, ...), so a
    burst of another program's work falls on all of them alike, and keeps the count with the
    smallest median step time. When the last `window` steps ran at the current count since the
    last probe, they are its timing and only the others are run. The very first step of a
    run (it allocates) is not timed. A candidate is given up after a single step `give_up`
    times slower than another candidate's median: on an oversubscribed machine a step with
    too many threads can take tens of times longer, and one such step says enough. Before
    that, `screen` (optional: counts -> {count: seconds of a small piece of work}) rules out
    the counts `give_up` times slower than the fastest there, at the price of that small
    work instead of a whole step.

    Probing costs the time lost at slower counts. A periodic probe comes after that time
    divided by `budget` (so probing costs about `budget` of the time), kept between
    `min_interval` and `max_interval` seconds. Sooner, from `drift_interval` seconds after a
    probe, the tuner watches the median of the last `window` steps against what the probe
    measured. A slowdown of more than `drift` (a fraction; the machine got busier) probes at
    once when fewer threads are possible and were measured no slower than the current count
    is now, else when the time the fewer counts lost is within budget; a speed-up (it got
    quieter) probes when more threads are possible and the time the larger counts lost is
    within budget. On a loaded machine, where one step with too many threads can cost twenty,
    that keeps the step times' ups and downs from probing them over and over.

    Inputs: candidates, the counts to choose from (one count: no probing). Times are in
    seconds; `now` is any clock's reading, the same clock throughout.
    """

    def __init__(
        self,
        candidates,
        *,
        probe_steps=3,
        give_up=3.0,
        window=5,
        drift=0.3,
        budget=0.02,
        min_interval=5.0,
        max_interval=60.0,
        drift_interval=1.0,
        screen=None,
    ):
        if not candidates:
            raise ValueError("ThreadTuner needs at least one candidate count")
        self.candidates = sorted(set(candidates))
        self.probe_steps, self.give_up = probe_steps, give_up
        self.drift, self.budget = drift, budget
        self.min_interval, self.max_interval = min_interval, max_interval
        self.drift_interval = drift_interval
        self.screen = screen
        self.count = self.candidates[0]  # the count the next step runs at
        self.timings = {}  # count -> median step seconds in the last probe
        self.checks = 0  # probes started
        self._queue = []  # the counts of the probe's steps still to run, the next one first
        self._samples = {}  # count -> timed step durations in the current probe
        self._spent = {}  # count -> (steps, seconds) in the current probe
        self._untimed = 1  # steps still to skip (the run's first step allocates)
        self._recent = deque(maxlen=window)  # durations since the last probe
        self._reference = None  # the chosen count's median in the last probe
        self._next_check = None  # a periodic probe from then on
        self._next_fewer = None  # a probe on drift towards fewer threads from then on
        self._next_more = None  # ... towards more threads

    @property
    def probing(self):
        return bool(self._queue)

    def start(self, now=None):
        """Begin a probe (see the class)."""
        if len(self.candidates) < 2:
            return
        self.checks += 1
        self._samples = {c: [] for c in self.candidates}
        self._spent = {}
        others = [c for c in self.candidates if c != self.count]
        if self.screen is not None:
            times = self.screen(self.candidates)
            fastest = min(times.values())
            others = [c for c in others if times[c] <= self.give_up * fastest]
        turn = [self.count, *others]
        if len(self._recent) == self._recent.maxlen:
            self._samples[self.count] = list(self._recent)
            turn = others
        self._queue = turn * self.probe_steps
        if self._queue:
            self.count = self._queue[0]
        else:  # the current count, timed by the window, is all that is left
            self._settle(now)

    def record(self, seconds, now):
        """The step just run at self.count took `seconds`; afterwards self.count says where
        the next one runs."""
        if self.probing:
            self._probe_step(seconds, now)
            return
        if self._next_check is None:  # never probed (one candidate)
            return
        self._recent.append(seconds)
        if now >= self._next_check or self._drifted(now):
            self.start(now)

    def _drifted(self, now):
        """Whether the recent steps drifted far enough, the right way, to probe now."""
        if len(self._recent) < self._recent.maxlen or self._reference <= 0:
            return False
        median = statistics.median(self._recent)
        ratio = median / self._reference
        if ratio > 1 + self.drift and self.count > self.candidates[0]:
            fewer = [t for c, t in self.timings.items() if c < self.count]
            due = now >= self._next_fewer or median >= min(fewer, default=math.inf)
        elif ratio < 1 / (1 + self.drift) and self.count < self.candidates[-1]:
            due = now >= self._next_more
        else:
            return False
        if due:
            log.debug("step time drifted to %.2fx the probe's: probing threads again", ratio)
        return due

    def _probe_step(self, seconds, now):
        count = self.count
        steps, spent = self._spent.get(count, (0, 0.0))
        self._spent[count] = (steps + 1, spent + seconds)
        if self._untimed:
            self._untimed -= 1
            return  # the same count runs again
        self._samples[count].append(seconds)
        self._queue.pop(0)
        others = [statistics.median(t) for c, t in self._samples.items() if c != count and t]
        if others and seconds > self.give_up * min(others):  # not a contender: give it up
            self._queue = [c for c in self._queue if c != count]
        if self._queue:
            self.count = self._queue[0]
        else:
            self._settle(now)

    def _settle(self, now):
        self.timings = {c: statistics.median(t) for c, t in self._samples.items() if t}
        best = min(self.timings, key=lambda c: (self.timings[c], c))
        t = self.timings[best]
        lost = {c: spent - steps * t for c, (steps, spent) in self._spent.items()}

        def after(seconds, least):
            return now + max(min(seconds / self.budget, self.max_interval), least)

        self.count, self._reference = best, t
        self._next_check = after(sum(lost.values()), self.min_interval)
        self._next_fewer = after(sum(v for c, v in lost.items() if c < best), self.drift_interval)
        self._next_more = after(sum(v for c, v in lost.items() if c > best), self.drift_interval)
        self._recent.clear()
        log.debug(
            "threads: %s s per step by count; using %d, next check in %.0f s",
            {c: round(v, 5) for c, v in self.timings.items()}, best, self._next_check - now,
        )  # fmt: skip


class BlasThreads:
    """Sets the thread count of the BLAS/OpenMP libraries this process has loaded (through
    threadpoolctl), and puts the original counts back on restore()."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        self._controller = ThreadpoolController()
        self._original = None

    def set(self, count):
        limiter = self._controller.limit(limits=count)
        if self._original is None:
            self._original = limiter  # remembers the counts before the first change

    def current(self):
        """The count the BLAS libraries use now (None if none is loaded)."""
        counts = [
            lib.get_num_threads()
            for lib in self._controller.select(user_api="blas").lib_controllers
        ]
        return max(counts) if counts else None

    def restore(self):
        if self._original is not None:
            self._original.restore_original_limits()
            self._original = None


class _ThreadsCallback(Callback):
    """What both callbacks share: the libraries' counts set at the start and put back at the
    end, the steps counted by the count they ran at, and the record for summary.json."""

    def __init__(self, requested, candidates):
        self.requested, self.candidates = requested, candidates
        self.steps = Counter()  # count -> training steps run at it
        self._blas = None  # BlasThreads while training
        self._running = None  # the count the libraries use now

    def _set(self, count):
        self._blas.set(count)
        actual = self._blas.current()
        self._running = count if actual is None else actual

    def on_train_end(self, solver):
        if self._blas is not None:
            self._blas.restore()

    def record(self):
        """summary.json's `threads`: requested ('auto' or a count), candidates, chosen (the
        count in force at the end), steps (run at each count), checks (auto's probes)."""
        return {
            "requested": self.requested,
            "candidates": self.candidates,
            "chosen": self._running,
            "steps": {str(c): n for c, n in sorted(self.steps.items())},
            "checks": self._checks(),
        }

    def _checks(self):
        return 0


class FixedThreads(_ThreadsCallback):
    """Every step with `count` BLAS threads."""

    def __init__(self, count):
        super().__init__(count, [count])
        self.count = count

    def on_train_start(self, solver):
        self._blas = BlasThreads()
        self._set(self.count)
        if self._running != self.count:
            log.warning("asked for %d BLAS threads; the library uses %d", self.count, self._running)

    def on_step(self, solver, loss):
        self.steps[self._running] += 1


class AutoThreads(_ThreadsCallback):
    """Runs a ThreadTuner on the Solver's steps. A step's duration is the time between two
    on_step calls; the step after an epoch's end (evaluation, checkpoint) and an epoch's
    short last batch are not timed. clock: seconds (time.perf_counter; tests pass a fake)."""

    def __init__(self, candidates, clock=time.perf_counter, screen_work=None, **tuner_options):
        super().__init__(AUTO, list(candidates))
        screen = None if screen_work is None else self._screen
        self.tuner = ThreadTuner(candidates, screen=screen, **tuner_options)
        self.clock = clock
        self.screen_work = screen_work  # a small piece of BLAS work, timed at every count
        self._last = None

    def _screen(self, counts):
        """{count: seconds} of screen_work at each count, the slower of two runs (on a loaded
        machine some runs with too many threads are fast, most wait a scheduler slice); real
        time, whatever the clock."""
        times = {}
        for count in counts:
            self._blas.set(count)
            runs = []
            for _ in range(2):
                start = time.perf_counter()
                self.screen_work()
                runs.append(time.perf_counter() - start)
            times[count] = max(runs)
        self._blas.set(self._running or counts[0])
        return times

    def on_train_start(self, solver):
        self._blas = BlasThreads()
        self.tuner.start(self.clock())
        self._set(self.tuner.count)
        self._last = self.clock()

    def on_step(self, solver, loss):
        now = self.clock()
        self.steps[self._running] += 1
        full = solver.batch_in_epoch * solver.batch_size <= len(solver.X_train)
        if self._last is not None and full:
            self.tuner.record(now - self._last, now)
            if self.tuner.count != self._running:
                self._set(self.tuner.count)
        self._last = self.clock()  # a screen's time is in no step

    def on_epoch_end(self, solver, record):
        self._last = None

    def _checks(self):
        return self.tuner.checks


def sgemm_work(size=384):
    """A float32 matrix product of size^3: what one-off computations are probed with."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    return lambda: a @ a


@dataclass(frozen=True)
class ThreadSetting:
    """What the user asked for, and the most threads this process may use.

    requested: a count, or AUTO. most: the largest count auto may try (None: every core this
    process may run on; a sweep worker's share of the cores otherwise).
    """

    requested: int | str = AUTO
    most: int | None = None

    @classmethod
    def per_worker(cls, value, workers):
        """The setting of each of `workers` parallel workers (a sweep's): a requested count
        as it is, auto among the counts up to the worker's share of the cores."""
        if isinstance(value, ThreadSetting):
            value = value.requested
        requested = parse_threads(value)
        if requested != AUTO:
            return cls(requested)
        return cls(AUTO, max(1, cpu_count() // max(1, workers)))

    @property
    def ceiling(self):
        """The most threads this setting ever uses."""
        return max(self.candidates())

    def candidates(self):
        if self.requested != AUTO:
            return [self.requested]
        return candidate_counts(self.most or cpu_count())

    def callback(self, clock=time.perf_counter):
        """The Solver callback that applies this setting to a training run."""
        if self.requested == AUTO:
            return AutoThreads(self.candidates(), clock=clock, screen_work=sgemm_work(256))
        return FixedThreads(self.requested)

    @contextmanager
    def applied(self, work=None, clock=time.perf_counter):
        """BLAS threads for a computation that is not a training loop (scoring, kNN,
        gradient checks): the requested count, or under auto the count a short probe finds
        fastest, timing `work` (default: sgemm_work()) as training steps are timed. Yields
        the record (as summary.json's `threads`); the original counts come back after."""
        candidates = self.candidates()
        blas = BlasThreads()
        tuner = ThreadTuner(candidates)
        if self.requested == AUTO and len(candidates) > 1:
            work = work or sgemm_work()
            tuner.start(clock())
            while tuner.probing:
                blas.set(tuner.count)
                start = clock()
                work()
                tuner.record(clock() - start, clock())
        blas.set(tuner.count)
        actual = blas.current()
        record = {
            "requested": self.requested,
            "candidates": candidates,
            "chosen": tuner.count if actual is None else actual,
            "checks": tuner.checks,
        }
        try:
            yield record
        finally:
            blas.restore()
