"""Side-by-side timing: nnctl and a peer alternate in one process, after a warm-up.

Every comparison prints median (min..max) of each side and the nnctl/peer ratio of the
medians (as a speed ratio: above 1 means nnctl is faster), and is saved to results/.
"""

import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine():
    """Cores, BLAS library and threads, and versions: printed first, saved with every result."""
    import numpy as np
    from threadpoolctl import threadpool_info

    blas = [
        f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    info = {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "blas": "; ".join(blas),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for name in ("torch", "sklearn", "skimage"):
        try:
            info[name] = __import__(name).__version__
        except ImportError:
            info[name] = None
    try:
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        info["commit"] = None
    return info


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def timeit(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(
    name, nnctl_fn, peer_fn, peer_name, repeats=5, warmup=1, work=1.0, unit="s", target=None
):
    """Time nnctl_fn and peer_fn alternately; `work` (e.g. samples) turns times into rates.

    Returns a dict with the medians, ranges and speed ratio nnctl/peer (> 1: nnctl faster),
    and, given a target ratio, whether it was met.
    """
    for _ in range(warmup):
        nnctl_fn()
        peer_fn()
    ours, theirs = [], []
    for i in range(repeats):
        # Alternate which side goes first, so drift in machine load hits both alike.
        if i % 2 == 0:
            ours.append(timeit(nnctl_fn))
            theirs.append(timeit(peer_fn))
        else:
            theirs.append(timeit(peer_fn))
            ours.append(timeit(nnctl_fn))
    result = {
        "name": name,
        "peer": peer_name,
        "nnctl_s": _summary(ours),
        "peer_s": _summary(theirs),
        "speed_ratio": statistics.median(theirs) / statistics.median(ours),
        "work": work,
        "unit": unit,
    }
    if target is not None:
        result["target"] = target
        result["met"] = result["speed_ratio"] >= target
    print(describe(result), flush=True)
    return result


def _summary(times):
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "all": times}


def describe(result):
    def side(label, s):
        if result["unit"] == "s":
            return f"{label} {s['median']:.3f}s ({s['min']:.3f}..{s['max']:.3f})"
        w = result["work"]
        return f"{label} {w / s['median']:,.0f} {result['unit']} ({w / s['max']:,.0f}..{w / s['min']:,.0f})"

    line = (
        f"{result['name']:<44} {side('nnctl', result['nnctl_s'])}  |  {side(result['peer'], result['peer_s'])}"
        f"  ->  nnctl/{result['peer']} speed {result['speed_ratio']:.2f}x"
    )
    if "target" in result:
        line += f" ({verdict(result['met'])} >= {result['target']}x)"
    return line


def verdict(met):
    """How a figure against its target is printed: MISSES stands out in a long log."""
    return "meets" if met else "MISSES"


def save(group, results, info):
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    path = RESULTS / f"{group}_{stamp}.json"
    path.write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    return path
