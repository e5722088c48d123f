"""ASHA against the full grid on real CIFAR-10: the course's two-layer net (affine - relu -
affine - softmax, SGD with learning-rate decay, configs/cifar10_twolayer.yaml) over a grid of
3 learning rates x 3 regularisation strengths x 3 hidden sizes = 27 points, 16 epochs each.

The grid runs twice, on the same workers: every point to its last epoch, then with
`scheduler: {type: asha, min_epochs: 1, reduction_factor: 5}` (rungs at 1 and 5 epochs). Target:
ASHA's best validation accuracy within 1 percentage point of the full grid's best, training
at most 1/4 of the grid's epochs; the wall-clock ratio is reported beside it, and the full
grid's rank correlation between early and final validation accuracy shows how far the early
rungs could be trusted.

    NNCTL_DATA_DIR=../shared/datasets .venv/bin/python -m benchmarks.bench_asha --workers 2
"""

import argparse
import tempfile
import time

from nnctl.config import validate
from nnctl.runs import RunFolder
from nnctl.sweep import run_sweep
from nnctl.sweep.scheduler import early_rank_correlation

EPOCHS = 16
# Rungs at 1 and 5 epochs. With reduction_factor 4 (rungs at 1 and 4) the first arrivals at
# each rung, promoted on arrival, trained all 16 epochs: 111 of 432 epochs (benchmarks/README.md).
ASHA = {"type": "asha", "min_epochs": 1, "reduction_factor": 5}


def config(scheduler=None):
    return validate(
        {
            "name": "bench-asha",
            "seed": 0,
            "data": {
                "dataset": "cifar10",
                "split": {"train": 49000, "val": 1000, "test": 1000},
                "preprocess": ["subtract_mean", "flatten"],
            },
            "model": {"type": "mlp", "hidden_dims": [100], "weight_scale": 1e-3, "reg": 0.25},
            "train": {
                "optimizer": "sgd",
                "learning_rate": 1e-3,
                "lr_decay": 0.95,
                "batch_size": 100,
                "epochs": EPOCHS,
            },
            "sweep": {
                "order": "shuffled",  # ASHA decides on arrival: no sorted order to favour
                "scheduler": scheduler,
                "params": {
                    "train.learning_rate": [5e-4, 1e-3, 2e-3],
                    "model.reg": [0.05, 0.25, 1.0],
                    "model.hidden_dims": [[50], [100], [200]],
                },
            },
        }
    )


def timed_sweep(cfg, runs_dir, workers):
    start = time.perf_counter()
    result = run_sweep(cfg, runs_dir, workers=workers, quiet=True)
    return result, time.perf_counter() - start


def run(workers=2):
    runs = tempfile.mkdtemp(prefix="nnctl-bench-asha-")
    full, full_s = timed_sweep(config(), f"{runs}/full", workers)
    print(f"full grid: best val acc {full.best['metric']:.4f}  ({full_s:.0f} s)", flush=True)
    asha, asha_s = timed_sweep(config(ASHA), f"{runs}/asha", workers)
    print(f"asha:      best val acc {asha.best['metric']:.4f}  ({asha_s:.0f} s)", flush=True)

    completed = [r for r in full.rows if r["status"] == "completed"]
    histories = [RunFolder(full.folder / r["folder"]).read_history() for r in completed]
    finals = [r["best_val_acc"] for r in completed]
    at_asha_rungs = early_rank_correlation(
        histories, finals, "val_acc", EPOCHS, rungs=(ASHA["min_epochs"], ASHA["reduction_factor"])
    )
    # The point ASHA picked scored the same in the full grid: its trial was continued exactly.
    same_point = next(p for p in full.points if p["params"] == asha.best["params"])
    epochs = asha.effort["epochs"]
    statuses = {}
    for row in asha.rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    result = {
        "name": "asha vs full grid, 27 points x 16 epochs, CIFAR-10 two-layer net",
        "workers": workers,
        "scheduler": ASHA,
        "full_best_val_acc": full.best["metric"],
        "full_best_params": full.best["params"],
        "asha_best_val_acc": asha.best["metric"],
        "asha_best_params": asha.best["params"],
        "asha_best_in_full_grid": same_point["metric"],
        "gap_points": 100 * (full.best["metric"] - asha.best["metric"]),
        "full_epochs": full.effort["epochs"]["trained"],
        "asha_epochs": epochs["trained"],
        "epoch_share": epochs["trained"] / full.effort["epochs"]["trained"],
        "full_seconds": full_s,
        "asha_seconds": asha_s,
        "wall_clock_ratio": asha_s / full_s,
        "asha_statuses": statuses,
        "rank_correlation_full_grid": full.effort.get("rank_correlation"),
        "rank_correlation_at_asha_rungs": {str(k): v for k, v in at_asha_rungs.items()},
        "folders": {"full": str(full.folder), "asha": str(asha.folder)},
    }
    met = result["gap_points"] <= 1.0 and result["epoch_share"] <= 0.25
    print(
        f"ASHA best {asha.best['metric']:.4f} vs grid best {full.best['metric']:.4f} "
        f"({result['gap_points']:+.1f} points behind); epochs {epochs['trained']} of "
        f"{result['full_epochs']} ({result['epoch_share']:.1%}); wall clock {asha_s:.0f} s of "
        f"{full_s:.0f} s ({result['wall_clock_ratio']:.1%}); ASHA trials {statuses}; "
        f"rank correlation early/final (full grid) {result['rank_correlation_full_grid']}, "
        f"at ASHA's rungs {result['rank_correlation_at_asha_rungs']}  ->  target "
        f"{'met' if met else 'NOT met'}",
        flush=True,
    )
    return [result]


if __name__ == "__main__":
    from benchmarks import harness

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    info = harness.machine()
    print("machine: " + "  ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    print(f"saved {harness.save('asha', run(args.workers), info)}", flush=True)
