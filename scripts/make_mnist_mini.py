"""Make nnctl/datasets/data/mnist_mini.npz, the bundled subset of real MNIST.

    python scripts/make_mnist_mini.py ../shared/datasets/mnist

Stratified: 1,000 training images of each digit (10,000) and 200 test images of each digit
(2,000), drawn at random with a fixed seed and shuffled, so that any slice of a set (such as
the validation slice after the training slice) holds every digit.
"""

import argparse
from pathlib import Path

import numpy as np

from nnctl.datasets.mnist import find, load

PER_CLASS = {"train": 1000, "test": 200}
OUT = Path(__file__).resolve().parent.parent / "nnctl" / "datasets" / "data" / "mnist_mini.npz"


def stratified(X, y, per_class, rng):
    # Drawn at random from the whole set: the official test set's first half is harder than
    # its second, so taking the first images would bias the subset.
    keep = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)]
    )
    keep = keep[rng.permutation(len(keep))]
    return X[keep], y[keep].astype(np.uint8)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", type=Path, help="folder holding the four MNIST IDX files")
    args = parser.parse_args()
    root = args.mnist_dir.parent
    if find(root, "mnist") is None or args.mnist_dir.name != "mnist":
        raise SystemExit(f"{args.mnist_dir} must be a folder named mnist with the four IDX files")
    raw = load(root, "mnist")
    rng = np.random.default_rng(0)
    X_train, y_train = stratified(raw.X_train, raw.y_train, PER_CLASS["train"], rng)
    X_test, y_test = stratified(raw.X_test, raw.y_test, PER_CLASS["test"], rng)
    np.savez_compressed(OUT, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test)
    size = OUT.stat().st_size / 1e6
    print(f"wrote {OUT} ({size:.1f} MB): {len(y_train)} train, {len(y_test)} test")


if __name__ == "__main__":
    main()
