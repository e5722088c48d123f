"""Sweep speed: 8 trials of a 3072-100-10 net for 2 epochs on 5,000 CIFAR-sized examples,
with 2 workers against 1 worker. Target: >= 1.8x faster with 2 workers on 2 cores. Trials
draw no plots of their own (on demand: nnctl report, nnctl viz-weights); the sweep draws its
heat map and top-trial curves at the end."""

import statistics
import tempfile
import time

from benchmarks.harness import compare
from nnctl.config import validate
from nnctl.runs.folder import read_summary
from nnctl.sweep import run_sweep


def config(npz):
    return validate(
        {
            "name": "bench",
            "data": {"dataset": "npz", "path": str(npz), "split": {"train": 5000, "val": 500}},
            "model": {"hidden_dims": [100], "init": "he"},
            "train": {"optimizer": "sgd", "learning_rate": 1e-3, "batch_size": 100, "epochs": 2},
            "sweep": {
                "params": {
                    "train.learning_rate": [1e-4, 3e-4, 1e-3, 3e-3],
                    "model.reg": [0.0, 0.01],
                }
            },
        }
    )


def run():
    import numpy as np

    tmp = tempfile.mkdtemp(prefix="nnctl-bench-")
    rng = np.random.default_rng(0)
    npz = f"{tmp}/data.npz"
    np.savez(
        npz,
        X_train=rng.standard_normal((5500, 3072), dtype=np.float32),
        y_train=rng.integers(10, size=5500),
    )
    cfg = config(npz)
    phases = {"2 workers": [], "1 worker": []}

    def sweep(label, runs_dir, **options):
        start = time.time()
        result = run_sweep(cfg, runs_dir, quiet=True, **options)
        phases[label].append(_phases(start, result.folder, time.time()))

    # --threads auto (the default): 2 workers on 2 cores keep one BLAS thread each. The first
    # line compares with 1 worker on one thread (the same work per trial), the second with
    # 1 worker under auto, which may use both cores' threads.
    one_worker = compare(
        "sweep: 8 trials, 2 workers vs 1 worker",
        lambda: sweep("2 workers", f"{tmp}/two", workers=2),
        lambda: sweep("1 worker", f"{tmp}/one", workers=1, threads=1),
        "1 worker", repeats=2, warmup=1, target=1.8,
    )  # fmt: skip
    one_worker["phases_s"] = {label: _median_phases(p) for label, p in phases.items()}
    trials = {label: p["trials"] for label, p in one_worker["phases_s"].items()}
    one_worker["trials_speed_ratio"] = trials["1 worker"] / trials["2 workers"]
    for label, p in one_worker["phases_s"].items():
        print(
            f"{'':<44} {label}: before the first trial starts {p['before']:.2f} s, trials "
            f"{p['trials']:.2f} s, after the last one ends {p['after']:.2f} s"
        )
    print(f"{'':<44} the trials alone: 2 workers {one_worker['trials_speed_ratio']:.2f}x 1 worker")
    threaded = compare(
        "sweep: 2 workers vs 1 worker, threads auto",
        lambda: run_sweep(cfg, f"{tmp}/two", workers=2, quiet=True),
        lambda: run_sweep(cfg, f"{tmp}/one2", workers=1, quiet=True),
        "1 worker auto", repeats=2, warmup=0,
    )  # fmt: skip
    return [one_worker, threaded]


def _phases(start, sweep_dir, end):
    """Seconds before the first trial started, from then until the last one finished, and
    after it, from the trials' own summaries (wall-clock times)."""
    summaries = [read_summary(p) for p in sweep_dir.glob("trials/*/summary.json")]
    first = min(s["started"] for s in summaries)
    last = max(s["finished"] for s in summaries)
    return {"before": first - start, "trials": last - first, "after": end - last}


def _median_phases(runs):
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}
