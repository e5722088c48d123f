"""Peak extra memory of one kNN prediction, measured in a fresh process so that memory freed
earlier cannot hide new allocations:

    python -m benchmarks.knn_memory {nnctl|sklearn} K FOLDER

FOLDER holds X_train.npy, y_train.npy and X_test.npy. Prints the bytes by which the
process's peak resident memory (VmHWM, reset through /proc/self/clear_refs) rose above its
level just before the prediction."""

import sys
from pathlib import Path

import numpy as np


def _status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main(kind, k, folder):
    folder = Path(folder)
    X_train = np.load(folder / "X_train.npy")
    y_train = np.load(folder / "y_train.npy")
    X_test = np.load(folder / "X_test.npy")
    if kind == "nnctl":
        from nnctl.models import KNearestNeighbor

        model = KNearestNeighbor(k=k)
        model.train(X_train, y_train)
    else:
        from sklearn.neighbors import KNeighborsClassifier

        model = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(X_train, y_train)
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    pred = model.predict(X_test)
    assert len(pred) == len(X_test)
    print(_status("VmHWM") - before)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
