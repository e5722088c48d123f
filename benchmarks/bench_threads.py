"""BLAS threads on a quiet and on a busy machine: `--threads auto` against every fixed count,
side by side in one run, through the Solver with the thread callback `nnctl train` gives it.

Network (b) of bench_training (3072-[100]x5-10, Adam, batch 200) on 49,000 x 3,072 float32;
each repeat is a new Solver training 2 epochs (490 steps), so auto's first probe is in every
timing. The
settings take turns, the order rotating each repeat. "busy": a subprocess spins on one core
(pinned to it) the whole time, as a browser or another user's job would.
Targets: busy, auto >= 0.9x the best fixed count; quiet, auto >= 0.95x the all-cores count."""

import os
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks.harness import verdict
from nnctl.machine import cpu_count
from nnctl.models import FullyConnectedNet
from nnctl.training.solver import Solver
from nnctl.training.threads import AUTO, ThreadSetting

N, D, C = 49_000, 3072, 10
HIDDEN, BATCH, EPOCHS = [100] * 5, 200, 2
# The busy loop: pinned to one core, and killed with this process (prctl PR_SET_PDEATHSIG).
SPIN = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "os.sched_setaffinity(0, {int(sys.argv[1])})\n"
    "while True:\n    pass\n"
)


def epoch(X, y, model, setting, epochs=EPOCHS):
    """EPOCHS epochs of network (b) with setting's callback; returns (seconds, its record)."""
    threads = setting.callback()
    solver = Solver(
        model, {"X_train": X, "y_train": y, "X_val": X[:100], "y_val": y[:100]},
        update_rule="adam", optim_config={"learning_rate": 1e-3}, batch_size=BATCH, num_epochs=epochs,
        num_train_samples=100, verbose=False, rng=np.random.default_rng(0), callbacks=[threads],
    )  # fmt: skip
    start = time.perf_counter()
    solver.train()
    return time.perf_counter() - start, threads.record()


def side_by_side(X, y, settings, repeats):
    """{label: [seconds per repeat]} and auto's records, the settings taking turns."""
    model = FullyConnectedNet(HIDDEN, input_dim=D, num_classes=C, init="he", seed=0)
    labels = list(settings)
    for label in labels:  # warm-up: pages touched, threads started
        epoch(X[:10_000], y[:10_000], model, settings[label], epochs=1)
    times = {label: [] for label in labels}
    records = []
    for i in range(repeats):
        for label in labels[i % len(labels) :] + labels[: i % len(labels)]:
            seconds, record = epoch(X, y, model, settings[label])
            times[label].append(seconds)
            if label == AUTO:
                records.append(record)
    return times, records


def busy_core(core):
    return subprocess.Popen([sys.executable, "-c", SPIN, str(core)])


def run(repeats=5):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D), dtype=np.float32)
    y = rng.integers(C, size=N)
    cores = cpu_count()
    settings = {f"{n} thread{'s' * (n > 1)}": ThreadSetting(n) for n in range(1, cores + 1)}
    settings[AUTO] = ThreadSetting(AUTO)
    results = []
    for scenario in ("quiet", "busy"):
        spinner = busy_core(sorted(os.sched_getaffinity(0))[-1]) if scenario == "busy" else None
        try:
            load = os.getloadavg()[0]
            times, records = side_by_side(X, y, settings, repeats)
            load_end = os.getloadavg()[0]
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
        medians = {label: statistics.median(t) for label, t in times.items()}
        fixed = {label: m for label, m in medians.items() if label != AUTO}
        best = min(fixed, key=fixed.get)
        reference = best if scenario == "busy" else f"{cores} threads"
        ratio = medians[reference] / medians[AUTO]
        target = 0.9 if scenario == "busy" else 0.95
        for label, t in times.items():
            print(
                f"threads {scenario:<5} {label:<10} {N * EPOCHS / medians[label]:>8,.0f} samples/s  "
                f"({N * EPOCHS / max(t):,.0f}..{N * EPOCHS / min(t):,.0f})"
            )
        met = ratio >= target
        other = f"{cores} threads" if scenario == "busy" else best
        print(
            f"threads {scenario:<5} auto / {reference} = {ratio:.2f}x ({verdict(met)} >= {target}x), "
            f"auto / {other} = {medians[other] / medians[AUTO]:.2f}x; load average {load:.2f} "
            f"at the start, {load_end:.2f} at the end; auto's steps by count: "
            + "; ".join(str(r["steps"]) for r in records)
        )
        results.append(
            {
                "name": f"threads {scenario}",
                "load_at_start": load,
                "load_at_end": load_end,
                "seconds": {label: t for label, t in times.items()},
                "samples_per_s": {label: N * EPOCHS / m for label, m in medians.items()},
                "reference": reference,
                "auto_ratio": ratio,
                "target": target,
                "met": met,
                "auto_records": records,
            }
        )
    return results
