"""`nnctl --help` wall time (heavy imports must be lazy). Target: under 0.3 s."""

import statistics
import subprocess
import sys
import time

from benchmarks.harness import verdict


def run(repeats=7):
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nnctl", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    times = times[1:]  # the first run warms the file cache
    median = statistics.median(times)
    met = median < 0.3
    print(
        f"nnctl --help: median {median:.3f}s ({min(times):.3f}..{max(times):.3f}), {verdict(met)} the 0.3 s target"
    )
    return [
        {
            "name": "nnctl --help",
            "median_s": median,
            "min_s": min(times),
            "max_s": max(times),
            "all": times,
            "met": met,
        }
    ]
