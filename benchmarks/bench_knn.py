"""kNN: nnctl against scikit-learn's brute-force KNeighborsClassifier on CIFAR-sized rows
(3,072 float32 values), k = 1 and 10: time, peak extra memory, and agreement of the
predictions. Targets on 49,000 x 10,000: >= 2x as fast for k = 1 and 10, <= 256 MB extra
peak memory, the same predictions."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import compare, verdict
from nnctl.models import KNearestNeighbor

D = 3072
SPEED_TARGET = 2.0  # on 49,000 x 10,000
MEMORY_TARGET_MB = 256


def cifar_like(n, rng):
    """Pixel-like rows: integers 0..255 plus an offset shared by all rows (random data: every
    distance is nearly the same, the hardest case for ranking)."""
    X = rng.integers(0, 256, size=(n, D)).astype(np.float32)
    X += rng.normal(0, 40, size=(1, D)).astype(np.float32)
    return X


def data(n_train, n_test, rng):
    """Real CIFAR-10 rows (mean image subtracted, as the course does) when the dataset is
    found ($NNCTL_DATA_DIR or ../shared/datasets), else random CIFAR-like rows."""
    from nnctl.datasets import load_dataset

    for root in (
        os.environ.get("NNCTL_DATA_DIR"),
        Path(__file__).resolve().parents[2] / "shared" / "datasets",
    ):
        if root and (Path(root) / "cifar-10-batches-py").is_dir():
            config = {
                "dataset": "cifar10",
                "root": str(root),
                "split": {"train": n_train, "val": 0, "test": n_test},
                "preprocess": ["subtract_mean", "flatten"],
            }
            s = load_dataset(config)
            return s.X_train, s.y_train, s.X_test, "CIFAR-10"
    X_train, X_test = cifar_like(n_train, rng), cifar_like(n_test, rng)
    mean = X_train.mean(axis=0)
    return X_train - mean, rng.integers(10, size=n_train), X_test - mean, "random"


def peak_extra_memory(kind, k, folder):
    """Peak extra bytes of one prediction, each side in a fresh process (knn_memory.py)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.knn_memory", kind, str(k), str(folder)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
    ).stdout.split()  # fmt: skip
    return int(out[0])


def run():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    results = []
    for n_train, n_test, repeats in ((5_000, 500, 5), (49_000, 10_000, 2)):
        X_train, y_train, X_test, source = data(n_train, n_test, rng)
        for k in (10, 1):
            ours = KNearestNeighbor(k=k)
            ours.train(X_train, y_train)
            theirs = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X_train, y_train)
            name = f"kNN {n_train:,} x {n_test:,} {source}, k={k}"
            result = compare(
                name, lambda o=ours, X=X_test: o.predict(X), lambda t=theirs, X=X_test: t.predict(X), "sklearn",
                repeats=repeats, warmup=0 if n_train > 10_000 else 1, work=n_test, unit="queries/s",
                target=SPEED_TARGET if n_train > 10_000 else None,
            )  # fmt: skip
            if k != 10:  # memory and agreement are measured once per size, with k = 10
                results.append(result)
                continue
            with tempfile.TemporaryDirectory() as tmp:
                for name, array in (("X_train", X_train), ("y_train", y_train), ("X_test", X_test)):
                    np.save(Path(tmp) / f"{name}.npy", array)
                mem_ours = peak_extra_memory("nnctl", k, tmp)
                mem_theirs = peak_extra_memory("sklearn", k, tmp)
            same = float(np.mean(ours.predict(X_test) == theirs.predict(X_test)))
            result["peak_extra_mb"] = {"nnctl": mem_ours / 2**20, "sklearn": mem_theirs / 2**20}
            result["same_predictions"] = same
            result["memory_met"] = mem_ours / 2**20 <= MEMORY_TARGET_MB
            print(
                f"{'':<44} peak extra memory nnctl {mem_ours / 2**20:,.0f} MB "
                f"({verdict(result['memory_met'])} <= {MEMORY_TARGET_MB} MB), sklearn "
                f"{mem_theirs / 2**20:,.0f} MB; same predictions on {same:.2%}"
            )
            results.append(result)
    return results
