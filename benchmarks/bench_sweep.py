"""Sweep speed: 8 trials of a 3072-100-10 net for 2 epochs on 5,000 CIFAR-sized examples,
with 2 workers against 1 worker. Target: >= 1.8x faster with 2 workers on 2 cores. Trials
draw no plots of their own (on demand: nnctl report, nnctl viz-weights); the sweep draws its
heat map and top-trial curves at the end."""

import tempfile

from benchmarks.harness import compare
from nnctl.config import validate
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
    # --threads auto (the default): 2 workers on 2 cores keep one BLAS thread each. The first
    # line compares with 1 worker on one thread (the same work per trial), the second with
    # 1 worker under auto, which may use both cores' threads.
    one_worker = compare(
        "sweep: 8 trials, 2 workers vs 1 worker",
        lambda: run_sweep(cfg, f"{tmp}/two", workers=2, quiet=True),
        lambda: run_sweep(cfg, f"{tmp}/one", workers=1, threads=1, quiet=True),
        "1 worker", repeats=2, warmup=1, target=1.8,
    )  # fmt: skip
    threaded = compare(
        "sweep: 2 workers vs 1 worker, threads auto",
        lambda: run_sweep(cfg, f"{tmp}/two", workers=2, quiet=True),
        lambda: run_sweep(cfg, f"{tmp}/one2", workers=1, quiet=True),
        "1 worker auto", repeats=2, warmup=0,
    )  # fmt: skip
    return [one_worker, threaded]
