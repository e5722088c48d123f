"""Small dataset files in the genuine formats, written by the tests themselves."""

import gzip
import pickle
import struct
import tarfile

import numpy as np

CIFAR_NAMES = [
    b"airplane",
    b"automobile",
    b"bird",
    b"cat",
    b"deer",
    b"dog",
    b"frog",
    b"horse",
    b"ship",
    b"truck",
]


class Py2Pickler(pickle._Pickler):
    """Pickles byte strings the way Python 2 did (SHORT_BINSTRING / BINSTRING opcodes), as in
    the official CIFAR-10 files; Python 3's protocol 2 would go through _codecs.encode."""

    def save_bytes(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def py2_pickle(obj, path):
    with open(path, "wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)


def cifar_batch(n, seed):
    """A batch dict exactly like the official ones: byte-string keys, N x 3072 uint8 rows."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"training batch",
        b"labels": [int(v) for v in rng.integers(10, size=n)],
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def write_cifar(root, n_per_batch=20):
    """cifar-10-batches-py/ under root with 5 training batches and a test batch."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{j}" for j in range(1, 6)] + ["test_batch"]):
        batches[name] = cifar_batch(n_per_batch, seed=i)
        py2_pickle(batches[name], folder / name)
    meta = {b"label_names": CIFAR_NAMES, b"num_cases_per_batch": n_per_batch}
    py2_pickle(meta, folder / "batches.meta")
    return folder, batches


def write_cifar_archive(root, n_per_batch=20):
    """The official archive layout: cifar-10-python.tar.gz holding cifar-10-batches-py/."""
    staging = root / "staging"
    folder, batches = write_cifar(staging, n_per_batch)
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return batches


def idx_bytes(array):
    """An IDX file of unsigned bytes: magic 0x0000 08 <ndim>, big-endian dims, data."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write_mnist(root, folder="mnist", n_train=30, n_test=10, gz=True, seed=0):
    """The four IDX files of MNIST (or Fashion-MNIST) under root/folder."""
    rng = np.random.default_rng(seed)
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(10, size=n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(10, size=n_test),
    }
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            with gzip.open(path / (stem + ".gz"), "wb") as f:
                f.write(data)
        else:
            (path / stem).write_bytes(data)
    return arrays
