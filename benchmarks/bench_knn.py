"""kNN: nnctl against scikit-learn's brute-force KNeighborsClassifier on CIFAR-sized rows
(3,072 float32 values), k = 1 and 10: time, peak extra memory, and agreement of the
predictions. Target: >= 1.5x as fast, < 1 GB extra on 49,000 x 10,000, same predictions."""

import tracemalloc

import numpy as np

from benchmarks.harness import compare
from nnctl.models import KNearestNeighbor

D = 3072


def cifar_like(n, rng):
    """Pixel-like rows: integers 0..255 with the mean image subtracted, as the course does."""
    X = rng.integers(0, 256, size=(n, D)).astype(np.float32)
    X += rng.normal(0, 40, size=(1, D)).astype(np.float32)  # some structure shared by all rows
    return X


def peak_extra_memory(fn):
    """Peak bytes NumPy allocated while fn ran (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return out, peak


def run():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    results = []
    for n_train, n_test, repeats in ((5_000, 500, 5), (49_000, 10_000, 2)):
        X_train = cifar_like(n_train, rng)
        X_test = cifar_like(n_test, rng)
        mean = X_train.mean(axis=0)
        X_train -= mean
        X_test -= mean
        y_train = rng.integers(10, size=n_train)
        for k in (1, 10):
            ours = KNearestNeighbor(k=k)
            ours.train(X_train, y_train)
            theirs = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X_train, y_train)
            name = f"kNN {n_train:,} x {n_test:,}, k={k}"
            result = compare(
                name, lambda o=ours, X=X_test: o.predict(X), lambda t=theirs, X=X_test: t.predict(X), "sklearn",
                repeats=repeats, warmup=0 if n_train > 10_000 else 1, work=n_test, unit="queries/s",
            )  # fmt: skip
            pred_ours, mem_ours = peak_extra_memory(lambda o=ours, X=X_test: o.predict(X))
            pred_theirs, mem_theirs = peak_extra_memory(lambda t=theirs, X=X_test: t.predict(X))
            result["peak_extra_mb"] = {"nnctl": mem_ours / 2**20, "sklearn": mem_theirs / 2**20}
            result["same_predictions"] = float(np.mean(pred_ours == pred_theirs))
            print(
                f"{'':<44} peak extra memory nnctl {mem_ours / 2**20:,.0f} MB, sklearn {mem_theirs / 2**20:,.0f} MB; "
                f"same predictions on {result['same_predictions']:.2%}"
            )
            results.append(result)
    return results
