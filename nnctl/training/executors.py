"""Where sweep trials run: in this process, in a local process pool, or on a Dask cluster.

Every executor has one method, `run(fn, jobs)`, a generator yielding (job, result) as jobs
finish, in any order; `fn(*job)` must be a top-level function (it is pickled). A job that
raised yields the exception object as its result.
"""

import concurrent.futures
import multiprocessing

from nnctl.errors import ConfigError


class InlineExecutor:
    """Runs jobs one after another in this process."""

    workers = 1
    shares_memory = True  # jobs see this process's memory

    def run(self, fn, jobs):
        for job in jobs:
            try:
                yield job, fn(*job)
            except Exception as err:  # reported to the caller, which records the failure
                yield job, err

    def shutdown(self, cancel=False):
        pass


class LocalExecutor:
    """A pool of `workers` processes. Where the platform can fork they are forked: a worker
    then starts at once with NumPy and nnctl already imported (spawning re-imports them,
    which costs more than a small trial); elsewhere they are spawned."""

    def __init__(self, workers):
        self.workers = workers
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.shares_memory = method == "fork"  # forked workers see what was loaded before
        self.pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context(method)
        )

    def run(self, fn, jobs):
        futures = {self.pool.submit(fn, *job): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            error = future.exception()
            yield futures[future], error if error is not None else future.result()

    def shutdown(self, cancel=False):
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)  # a second call does nothing


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
            self.cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None,
            )  # fmt: skip
            address = self.cluster
        self.client = Client(address)
        self.workers = workers
        self.shares_memory = False  # workers read the data the sweep stores in its folder

    def run(self, fn, jobs):
        from dask.distributed import as_completed

        futures = {}
        for job in jobs:
            # pure=False: the same arguments may legitimately run again (e.g. after a resume).
            futures[self.client.submit(fn, *job, pure=False)] = job
        for future in as_completed(list(futures)):
            try:
                yield futures[future], future.result()
            except Exception as err:
                yield futures[future], err

    def shutdown(self, cancel=False):
        self.client.close()  # closing twice is harmless
        if self.cluster is not None:
            self.cluster.close()


def make_executor(kind, workers, scheduler=None):
    if kind == "local":
        return InlineExecutor() if workers == 1 else LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(workers, scheduler)
    raise ConfigError(f"unknown executor {kind!r}; valid: local, dask")
