"""Where a training step's time goes, nnctl and PyTorch side by side: the whole step, and the
matrix products of that network alone, with each side's own BLAS (NumPy's OpenBLAS, PyTorch's
MKL/oneDNN) on the same shapes and threads.

    python -m benchmarks.step_profile            # every network of the training benchmark

For each network: step = products + everything else. If nnctl's products alone take longer
than PyTorch's, that part of the gap is the BLAS library's speed on those shapes; the rest
(nnctl's "else" against PyTorch's) is ours. The products are, per layer (N the batch, D in,
M out): forward x @ W (N,D)x(D,M); weight gradient x.T @ dout (D,N)x(N,M); input gradient
dout @ W.T (N,M)x(M,D) for every layer but the first.
"""

import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.networks import (
    CASES,
    THREADS,
    C,
    D,
    N,
    nnctl_epoch,
    torch_epoch,
    training_data,
)


def _median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _layers(case):
    dims = [D, *case["hidden"], C]
    return list(zip(dims[:-1], dims[1:], strict=True))


def _products(case, lib):
    """[(what, (m, k, n), fn)] for each matrix product of one training step, with operands
    laid out as each side keeps them: nnctl W (D, M), x.T and W.T as views; PyTorch's Linear
    W (M, D), forward x @ W.T, weight gradient dout.T @ x, input gradient dout @ W."""
    rng = np.random.default_rng(0)
    batch, out = case["batch"], []
    for i, (d_in, d_out) in enumerate(_layers(case)):
        x = rng.standard_normal((batch, d_in), dtype=np.float32)
        dout = rng.standard_normal((batch, d_out), dtype=np.float32)
        if lib == "torch":
            import torch

            x, dout = torch.from_numpy(x), torch.from_numpy(dout)
            W = torch.from_numpy(rng.standard_normal((d_out, d_in), dtype=np.float32))
            fns = [
                ("forward", (batch, d_in, d_out), lambda x=x, W=W: x @ W.T),
                ("weight grad", (d_out, batch, d_in), lambda x=x, g=dout: g.T @ x),
                ("input grad", (batch, d_out, d_in), lambda W=W, g=dout: g @ W),
            ]
        else:
            W = rng.standard_normal((d_in, d_out), dtype=np.float32)
            fns = [
                ("forward", (batch, d_in, d_out), lambda x=x, W=W: x @ W),
                ("weight grad", (d_in, batch, d_out), lambda x=x, g=dout: x.T @ g),
                ("input grad", (batch, d_out, d_in), lambda W=W, g=dout: g @ W.T),
            ]
        out += fns if i > 0 else fns[:2]  # the first layer needs no input gradient
    return out


def products(case, steps, lib):
    """Seconds per step of the network's matrix products alone."""
    fns = [fn for _, _, fn in _products(case, lib)]

    def many():
        for _ in range(steps):
            for fn in fns:
                fn()

    return _median_time(many, 3) / steps


def profile(name, case, X, y, Xt, yt, peak=None):
    """A step of each side split into its matrix products and the rest, each product timed
    alone on both BLAS libraries; with `peak` (GFLOP/s of a large sgemm in the same run),
    the roofline: the products' time at that speed."""
    steps_per_epoch = N // case["batch"]
    ours = _median_time(nnctl_epoch(X, y, case), 3) / steps_per_epoch
    theirs = _median_time(torch_epoch(Xt, yt, case)[0], 3) / steps_per_epoch
    ours_mm = products(case, 100, "numpy")
    theirs_mm = products(case, 100, "torch")
    row = {
        "name": name,
        "step_ms": {"nnctl": ours * 1e3, "torch": theirs * 1e3},
        "products_ms": {"nnctl": ours_mm * 1e3, "torch": theirs_mm * 1e3},
        "else_ms": {"nnctl": (ours - ours_mm) * 1e3, "torch": (theirs - theirs_mm) * 1e3},
        "products": [
            {"what": what, "shape": shape, "openblas_ms": a, "torch_ms": b}
            for (what, shape, a), (_, _, b) in zip(
                per_shape(case, "numpy"), per_shape(case, "torch"), strict=True
            )
        ],
    }
    flops = sum(2 * m * k * n for _, (m, k, n), _ in _products(case, "numpy"))
    line = (
        f"  profile: step nnctl {ours * 1e3:.2f} ms = products {ours_mm * 1e3:.2f} + else "
        f"{(ours - ours_mm) * 1e3:.2f}  |  torch {theirs * 1e3:.2f} ms = products "
        f"{theirs_mm * 1e3:.2f} + else {(theirs - theirs_mm) * 1e3:.2f}"
    )
    if peak:
        row["roofline_ms"] = flops / peak / 1e6
        line += f"  |  the products at the sgemm peak {row['roofline_ms']:.2f} ms"
    print(line)
    for p in row["products"]:
        print(
            f"    {p['what']:<12} {'x'.join(map(str, p['shape'])):<16} OpenBLAS "
            f"{p['openblas_ms']:.3f} ms  torch {p['torch_ms']:.3f} ms"
        )
    return row


def per_shape(case, lib, repeats=200):
    """[(what, (m, k, n), milliseconds)] of each product of the network."""
    out = []
    for what, shape, fn in _products(case, lib):
        t = _median_time(lambda fn=fn: [fn() for _ in range(repeats)], 3) / repeats
        out.append((what, shape, t * 1e3))
    return out


def run(names=None):
    X, y, Xt, yt = training_data()
    rows = []
    with threadpool_limits(limits=THREADS):
        for name, case in CASES.items():
            if not names or any(n in name for n in names):
                print(name)
                rows.append(profile(name, case, X, y, Xt, yt))
    return rows


if __name__ == "__main__":
    import sys

    run(sys.argv[1:])
