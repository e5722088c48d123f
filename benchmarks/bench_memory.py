"""Peak resident memory of `nnctl train configs/cifar10_fc.yaml` against the size of its
training array (49,000 x 3,072 float32 = 602 MB). Target: under 2.5x.

The run is a fresh process (its peak is the kernel's ru_maxrss of that child) on the real
CIFAR-10 ($NNCTL_DATA_DIR or ../shared/datasets); train.epochs=1 by default (the peak is
reached in loading and the first epoch: later epochs allocate nothing new), all epochs
with --full."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import verdict

ROOT = Path(__file__).resolve().parents[1]
TRAIN_BYTES = 49_000 * 3072 * 4
TARGET = 2.5  # peak RSS / training array


def data_dir():
    for root in (os.environ.get("NNCTL_DATA_DIR"), ROOT.parent / "shared" / "datasets"):
        if root and (Path(root) / "cifar-10-batches-py").is_dir():
            return str(root)
    return None


# Linux keeps a process's peak resident memory across exec: a child started straight from
# this (by then large) benchmark process would report this process's peak as its own. A small
# Python process in between starts nnctl and reports nnctl's peak.
MEASURE = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(process.pid, 0)
if status != 0:
    sys.exit(process.stderr.read().decode())
print(usage.ru_maxrss * 1024)
"""


def peak_rss(args, env):
    """(peak resident bytes, seconds) of `python -m nnctl ARGS` run to its end."""
    start = time.perf_counter()
    measured = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "nnctl", *args],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if measured.returncode != 0:
        raise RuntimeError(f"nnctl {' '.join(args)} failed: {measured.stderr}")
    return int(measured.stdout), seconds


def run(full=False):
    root = data_dir()
    if root is None:
        print("memory: CIFAR-10 not found (set NNCTL_DATA_DIR); skipped")
        return []
    env = {**os.environ, "NNCTL_DATA_DIR": root}
    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as runs:
        args = ["train", "configs/cifar10_fc.yaml", "--runs-dir", runs, "--quiet", "--no-report"]
        if not full:
            args.append("train.epochs=1")
        peak, seconds = peak_rss(args, env)
    ratio = peak / TRAIN_BYTES
    met = ratio < TARGET
    print(
        f"memory: nnctl {' '.join(args[:2])}{'' if full else ' train.epochs=1'}: peak RSS "
        f"{peak / 2**20:,.0f} MiB = {ratio:.2f}x the training array ({TRAIN_BYTES / 2**20:,.0f} MiB), "
        f"{verdict(met)} < {TARGET}x ({seconds:.0f} s)"
    )
    return [
        {
            "name": "peak RSS of nnctl train configs/cifar10_fc.yaml",
            "epochs": "all" if full else 1,
            "peak_bytes": peak,
            "train_array_bytes": TRAIN_BYTES,
            "ratio": ratio,
            "target": TARGET,
            "met": met,
            "seconds": seconds,
        }
    ]


if __name__ == "__main__":
    run(full="--full" in sys.argv)
