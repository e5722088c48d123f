"""Where sweep trials run: in this process, in a local process pool, or on a Dask cluster.

Every executor has `run(fn, queue)`, a generator yielding (job, result) as jobs finish, in
any order (a job that raised yields the exception object as its result). It takes the next
job from `queue` (a collections.deque, or anything with popleft() and a truth value) whenever
a worker is free, so jobs added to the queue while it runs (a promoted trial's next rung) run
too; the pools keep one job submitted beyond their workers, so a worker that finishes starts
the next job at once rather than after the sweep has taken in the last result;
`cancel_pending()`, after which no job starts; and `shutdown(kill=False)`.
`fn(*job)` must be a top-level function (it is pickled).

A local worker that dies (killed, out of memory) breaks Python's process pool, and with it
every job running there (which worker died is not known; the others are killed at once):
the pool is started again and those jobs run again, one at a time, alone in the pool (a
trial continues from its last checkpoint), before new jobs start. A job whose
worker dies while it runs alone did kill it; after MAX_DEATHS such deaths it is reported
with a WorkerDied error, and the others go on.

Workers ignore Ctrl-C and SIGTERM (the terminal sends them to the whole process group): the
sweep stops its trials itself, through a stop file they watch, so idle workers never die with
a traceback and running trials end with a checkpoint. Local workers also die with the sweep
process (no orphans, even after SIGKILL).
"""

import collections
import concurrent.futures
import ctypes
import logging
import multiprocessing
import signal
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

from nnctl import signals
from nnctl.errors import ConfigError

PR_SET_PDEATHSIG = 1
MAX_DEATHS = 2  # deaths of a worker running a job alone before the job is reported failed


class WorkerDied(Exception):
    """The worker process running a job alone died MAX_DEATHS times."""


def _worker_init():
    """In each local worker: ignore stop signals, die with the parent, log nothing to the
    console (a trial's records go to its own log.txt)."""
    signals.ignore_in_worker()
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        pass
    logger = logging.getLogger("nnctl")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


@contextmanager
def _children_ignore_signals():
    """Processes started inside the block inherit ignored SIGINT/SIGTERM."""
    previous = {sig: signal.getsignal(sig) for sig in signals.STOP_SIGNALS}
    for sig in previous:
        signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class InlineExecutor:
    """Runs jobs one after another in this process."""

    workers = 1
    shares_memory = True  # jobs see this process's memory

    def __init__(self):
        self.cancelled = False

    def run(self, fn, queue):
        while queue and not self.cancelled:
            job = queue.popleft()
            try:
                yield job, fn(*job)
            except Exception as err:  # reported to the caller, which records the failure
                yield job, err

    def cancel_pending(self):
        self.cancelled = True

    def shutdown(self, kill=False):
        pass


class LocalExecutor:
    """A pool of `workers` processes. Where the platform can fork they are forked: a worker
    then starts at once with NumPy and nnctl already imported (spawning re-imports them,
    which costs more than a small trial); elsewhere they are spawned."""

    def __init__(self, workers):
        self.workers = workers
        self.method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.shares_memory = self.method == "fork"  # forked workers see what was loaded before
        self.pool = self._new_pool()
        self.cancelled = False
        self.running = {}  # future -> (job, deaths, pool, alone): one per worker, one waiting

    def _new_pool(self):
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context(self.method),
            initializer=_worker_init,
        )

    def _restart(self, broken):
        """A new pool in place of `broken` (once: later failures of its jobs find it gone).
        Its other workers are killed: their results are lost anyway, and they ignore the
        SIGTERM the pool sends them, so it would wait for their trials to end."""
        if self.pool is broken:
            _kill_workers(broken)
            broken.shutdown(wait=True, cancel_futures=True)
            self.pool = self._new_pool()

    def run(self, fn, queue):
        running = self.running
        again = collections.deque()  # (job, deaths) of jobs a broken pool took with it
        while True:
            while len(running) <= self.workers and not self.cancelled:
                if any(alone for _, _, _, alone in running.values()):
                    break  # a job run again runs alone
                if again:
                    if running:
                        break  # it waits for the pool to empty
                    (job, deaths), alone = again.popleft(), True
                elif queue:
                    job, deaths, alone = queue.popleft(), 0, False
                else:
                    break
                pool = self.pool
                try:
                    running[pool.submit(fn, *job)] = (job, deaths, pool, alone)
                except BrokenProcessPool:  # it broke after the last results came in
                    again.appendleft((job, deaths))
                    self._restart(pool)
            if not running:
                return
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                job, deaths, pool, alone = running.pop(future)
                if future.cancelled():
                    continue
                error = future.exception()
                if isinstance(error, BrokenProcessPool):
                    self._restart(pool)
                    deaths += alone  # only a job that ran alone surely killed its worker
                    if deaths < MAX_DEATHS:
                        again.append((job, deaths))
                        continue
                    error = WorkerDied(
                        f"its worker process died (killed, or out of memory) {deaths} times"
                    )
                yield job, error if error is not None else future.result()

    def cancel_pending(self):
        self.cancelled = True
        for future in self.running:
            future.cancel()  # running ones cannot be cancelled: they stop on the stop file

    def shutdown(self, kill=False):
        if kill:
            _kill_workers(self.pool)
        self.pool.shutdown(wait=True, cancel_futures=True)  # a second call does nothing


def _kill_workers(pool):
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


class DaskExecutor:
    """Jobs submitted to a Dask distributed cluster: the scheduler at `address`, or a
    LocalCluster of `workers` single-threaded processes on 127.0.0.1 when address is None.

    Workers must see the sweep folder at the same path (a shared filesystem)."""

    def __init__(self, workers, address=None):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError(
                "the dask executor needs Dask: pip install 'nnctl[distributed]'"
            ) from None
        self.cluster = None
        if address is None:
            with _children_ignore_signals():
                self.cluster = LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=logging.ERROR,
                )  # fmt: skip
            address = self.cluster
        self.client = Client(address)
        self.workers = workers
        self.shares_memory = False  # workers read the data the sweep stores in its folder
        self.cancelled = False

    def run(self, fn, queue):
        from dask.distributed import as_completed

        running = {}  # future -> job: one per worker, and one waiting
        finished = as_completed()

        def submit():
            while queue and len(running) <= self.workers and not self.cancelled:
                job = queue.popleft()
                # pure=False: the same arguments may legitimately run again (after a resume).
                future = self.client.submit(fn, *job, pure=False)
                running[future] = job
                finished.add(future)

        submit()
        for future in finished:
            job = running.pop(future)
            try:
                yield job, future.result()
            except concurrent.futures.CancelledError:
                pass
            except Exception as err:
                yield job, err
            submit()

    def cancel_pending(self):
        """No job is submitted from now on. Running ones are not cancelled (that would leave
        them running unseen): they see the stop file and return."""
        self.cancelled = True

    def shutdown(self, kill=False):
        self.client.close()  # closing twice is harmless
        if self.cluster is not None:
            self.cluster.close()


def make_executor(kind, workers, scheduler=None):
    if kind == "local":
        return InlineExecutor() if workers == 1 else LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers, scheduler)
    raise ConfigError(f"unknown executor {kind!r}; valid: local, dask")
