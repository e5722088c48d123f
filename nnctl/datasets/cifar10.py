"""CIFAR-10, the official "python version": pickled batches read by a restricted unpickler."""

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from nnctl.datasets.source import RawData, files_identity
from nnctl.errors import DatasetError

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
META = "batches.meta"
IMAGE_SHAPE = (32, 32, 3)


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # NumPy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _Refused(pickle.UnpicklingError):
    """A pickle asked for something a CIFAR batch never contains."""


class _BatchUnpickler(pickle.Unpickler):
    """Allows exactly the globals a genuine CIFAR batch references (a NumPy array) and
    refuses everything else before it can be called."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise _Refused(f"refusing to load {module}.{name}")
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return getattr(np, name)


def read_batch(path):
    """One pickled batch as a dict with str keys (the files use Python 2 byte strings)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = _BatchUnpickler(io.BufferedReader(f), encoding="bytes").load()
    except _Refused as err:
        raise DatasetError(f"{path} is not a genuine CIFAR-10 batch: {err}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
    ) as err:
        raise DatasetError(
            f"{path} is truncated or corrupt ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} does not hold a CIFAR-10 batch dict")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _images_and_labels(path):
    batch = read_batch(path)
    if "data" not in batch or "labels" not in batch:
        raise DatasetError(f"{path} lacks the 'data' and 'labels' entries of a CIFAR-10 batch")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3072
        or len(labels) != len(data)
    ):
        raise DatasetError(
            f"{path} has data of shape {data.shape} ({data.dtype}) and {len(labels)} labels; "
            "a CIFAR-10 batch holds N x 3072 uint8 rows and N labels"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"{path} has labels outside 0..9")
    # Rows are channel-major (1024 red, 1024 green, 1024 blue): to (N, 32, 32, 3).
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _extract_archive(archive, root):
    """Extract the official tar.gz into root, refusing members that would escape it."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                target = (root / member.name).resolve()
                if not (member.isfile() or member.isdir()) or root.resolve() not in target.parents:
                    raise DatasetError(f"{archive} holds an unsafe member {member.name!r}")
            tar.extractall(root, members=members)  # noqa: S202 - members checked above
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DatasetError(f"{archive} is not a readable tar.gz archive ({err})") from None


def find(root):
    """The batches folder under root (extracting the archive if only it is there), or None."""
    folder = root / FOLDER
    if not folder.is_dir() and (root / ARCHIVE).is_file():
        _extract_archive(root / ARCHIVE, root)
    return folder if folder.is_dir() else None


def load(root):
    """RawData for CIFAR-10 found under root: uint8 images (N, 32, 32, 3), labels int64."""
    folder = find(root)
    if folder is None:
        raise DatasetError(f"CIFAR-10 is not in {root}")
    paths = [folder / name for name in (*TRAIN_BATCHES, TEST_BATCH, META)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{folder} is incomplete: missing {', '.join(missing)}")
    train = [_images_and_labels(folder / name) for name in TRAIN_BATCHES]
    X_test, y_test = _images_and_labels(folder / TEST_BATCH)
    meta = read_batch(folder / META)
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("label_names", [])]
    if len(names) != 10:
        raise DatasetError(f"{folder / META} does not list the 10 CIFAR-10 class names")
    return RawData(
        X_train=np.concatenate([x for x, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        X_test=X_test,
        y_test=y_test,
        class_names=names,
        image_shape=IMAGE_SHAPE,
        identity="cifar10:" + files_identity(paths),
    )
