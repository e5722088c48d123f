"""MNIST and Fashion-MNIST from the original IDX files (gzipped or not)."""

import gzip
from pathlib import Path

import numpy as np

from nnctl.datasets.source import RawData, files_identity
from nnctl.errors import DatasetError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FOLDERS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist"}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": [
        "t-shirt/top", "trouser", "pullover", "dress", "coat",
        "sandal", "shirt", "sneaker", "bag", "ankle boot",
    ],
}  # fmt: skip
IDX_UBYTE = 0x08  # the IDX type code for unsigned bytes


def read_idx(path, ndim):
    """The array in an IDX file of unsigned bytes with `ndim` dimensions (gzip or plain).

    Checks the magic number (0, 0, type, ndim), the dimensions and the file length.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise DatasetError(f"{path} could not be read ({err})") from None
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(f"{path} is truncated: {len(data)} bytes, shorter than an IDX header")
    magic = data[:4]
    if magic[0] != 0 or magic[1] != 0 or magic[2] != IDX_UBYTE or magic[3] != ndim:
        raise DatasetError(
            f"{path} has magic number {magic.hex()}, expected 0000{IDX_UBYTE:02x}{ndim:02x} "
            f"(an IDX file of unsigned bytes with {ndim} dimensions)"
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header_len + int(np.prod(dims))
    if len(data) != expected:
        raise DatasetError(f"{path} is {len(data)} bytes but its header {dims} implies {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims)


def _path(folder, stem):
    """The plain or gzipped file for stem in folder, or None."""
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find(root, name):
    """The folder holding all four IDX files of dataset `name` under root, or None."""
    folder = root / FOLDERS[name]
    if all(_path(folder, stem) for stem in FILES.values()):
        return folder
    return None


def load(root, name):
    """RawData for MNIST or Fashion-MNIST: uint8 images (N, 28, 28, 1), labels int64."""
    folder = find(root, name)
    if folder is None:
        raise DatasetError(f"{name} is not in {root}")
    paths = {key: _path(folder, stem) for key, stem in FILES.items()}
    arrays = {}
    for split in ("train", "test"):
        images = read_idx(paths[f"{split}_images"], 3)
        labels = read_idx(paths[f"{split}_labels"], 1).astype(np.int64)
        if len(images) != len(labels):
            raise DatasetError(
                f"{paths[f'{split}_images']} has {len(images)} images but "
                f"{paths[f'{split}_labels']} has {len(labels)} labels"
            )
        if len(labels) and labels.max() > 9:
            raise DatasetError(f"{paths[f'{split}_labels']} has labels outside 0..9")
        arrays[split] = (images[..., None], labels)
    return RawData(
        X_train=arrays["train"][0],
        y_train=arrays["train"][1],
        X_test=arrays["test"][0],
        y_test=arrays["test"][1],
        class_names=CLASS_NAMES[name],
        image_shape=arrays["train"][0].shape[1:],
        identity=f"{name}:" + files_identity(paths.values()),
    )
