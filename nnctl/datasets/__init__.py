"""From a dataset name in the config to float32 arrays ready for a model.

`load_dataset(data_config, rng)` finds (or downloads) the files, splits them as the course
does, extracts cached image features if asked, and fits the preprocessing on the training
split only. It knows nothing about models.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.datasets import cifar10, download, embedded, features, mnist, npz, synthetic
from nnctl.datasets.preprocess import apply_pipeline, fit_pipeline
from nnctl.datasets.source import RawData, data_root, default_cache_dir
from nnctl.errors import DatasetError
from nnctl.registry import Registry

log = logging.getLogger(__name__)

SYNTHETIC_DEFAULTS = {"train": 1000, "val": 200, "test": 200}
DEFAULT_VAL_FRACTION = 0.1


@dataclass(frozen=True)
class Source:
    """One dataset source: how it is loaded and what its data are.

    load(data_config, rng, root, base_dir) -> RawData; images: True for image data, False
    for vectors, None when it depends on the file (npz); kind: where it comes from ("files"
    under the data root, "bundled" with nnctl, "generated" from the seed, "path" of the
    config); files: what is looked for under the data root (file sources).
    """

    load: Callable
    images: bool | None
    kind: str
    files: str | None = None


def _load_files(name):
    def load(data_config, rng, root, base_dir):
        if not is_present(name, root):
            if not _get(data_config, "download", False):
                raise DatasetError(missing_message(name, root))
            download.download(name, root)
        return cifar10.load(root) if name == "cifar10" else mnist.load(root, name)

    return load


def _load_generated(name):
    def load(data_config, rng, root, base_dir):
        split = _get(data_config, "split", {})
        sizes = {key: _get(split, key, default) for key, default in SYNTHETIC_DEFAULTS.items()}
        return synthetic.load(
            name,
            sizes["train"] + sizes["val"],
            sizes["test"],
            rng,
            classes=_get(data_config, "classes"),
            dim=_get(data_config, "dim"),
            noise=_get(data_config, "noise"),
        )

    return load


def _load_npz(data_config, rng, root, base_dir):
    path = _get(data_config, "path")
    if not path:
        raise DatasetError("dataset npz needs data.path: the .npz file with X_train and y_train")
    path = Path(path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return npz.load(path)


# The one list of dataset names: the config schema takes data.dataset's values from here.
SOURCES = Registry(
    "dataset",
    {
        "cifar10": Source(
            _load_files("cifar10"), True, "files", f"{cifar10.FOLDER}/ or {cifar10.ARCHIVE}"
        ),
        "mnist": Source(_load_files("mnist"), True, "files", "mnist/"),
        "fashion-mnist": Source(_load_files("fashion-mnist"), True, "files", "fashion-mnist/"),
        "mnist-mini": Source(lambda *args: embedded.load(), True, "bundled"),
        "spiral": Source(_load_generated("spiral"), False, "generated"),
        "blobs": Source(_load_generated("blobs"), False, "generated"),
        "npz": Source(_load_npz, None, "path"),
    },
)
DATASETS = tuple(SOURCES)


@dataclass
class Splits:
    """Everything a model needs from the data.

    X_* are float32, C-contiguous, (N, ...) with the same trailing shape; y_* int64 (N,).
    image_shape is (H, W, C) of the images before preprocessing, or None for non-image data.
    preprocess is the list of step names and preprocess_state their fitted arrays, so the same
    transformation can be applied again at evaluation time; feature_state likewise holds the
    learned state of each of the features (data.features; features.states_to_arrays saves it).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    image_shape: tuple | None
    preprocess: list = field(default_factory=list)
    preprocess_state: list = field(default_factory=list)
    features: list = field(default_factory=list)
    feature_state: list = field(default_factory=list)
    identity: str = ""

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_dim(self):
        return int(np.prod(self.X_train.shape[1:]))


def _get(config, key, default=None):
    """Config access for dicts and pydantic models alike."""
    if isinstance(config, dict):
        value = config.get(key, default)
    else:
        value = getattr(config, key, default)
    return default if value is None else value


def is_present(name, root):
    """Whether a file-based dataset's files are under root (the others: always)."""
    if name == "cifar10":
        return (root / cifar10.FOLDER).is_dir() or (root / cifar10.ARCHIVE).is_file()
    if name in mnist.FOLDERS:
        return mnist.find(root, name) is not None
    return True


def dataset_table(data_dir=None):
    """One row per dataset: name, where it is looked for, whether it is there, bytes on disk."""
    root = data_root(None, data_dir)
    rows = []
    for name, source in SOURCES.items():
        if source.kind == "files":
            folder = root / (cifar10.FOLDER if name == "cifar10" else mnist.FOLDERS[name])
            files = [folder] if folder.is_dir() else []
            if name == "cifar10" and (root / cifar10.ARCHIVE).is_file():
                files.append(root / cifar10.ARCHIVE)
            size = sum(
                f.stat().st_size
                for p in files
                for f in ([p] if p.is_file() else p.rglob("*"))
                if f.is_file()
            )
            rows.append(
                {
                    "name": name,
                    "location": str(folder),
                    "present": is_present(name, root),
                    "bytes": size,
                }
            )
        elif source.kind == "bundled":
            rows.append(
                {
                    "name": name,
                    "location": "bundled with nnctl",
                    "present": True,
                    "bytes": _bundled_size(),
                }
            )
        else:
            where = (
                "data.path in the config" if source.kind == "path" else "generated from the seed"
            )
            rows.append({"name": name, "location": where, "present": None, "bytes": None})
    return rows


def _bundled_size():
    try:
        return embedded.path().stat().st_size
    except OSError:
        return None


def missing_message(name, root):
    return (
        f"dataset {name} was not found in {root} (looked for {SOURCES[name].files}); "
        f"fetch it with `nnctl datasets download {name} --data-dir {root}` (or data.download: "
        "true), or point data.root, --data-dir or $NNCTL_DATA_DIR at a folder that holds it"
    )


def load_raw(data_config, rng, data_dir=None, base_dir=None):
    """The dataset named in data_config as its source provides it (RawData)."""
    source = SOURCES[_get(data_config, "dataset")]  # raises, listing the valid names
    root = data_root(_get(data_config, "root"), data_dir)
    return source.load(data_config, rng, root, base_dir)


def split_sizes(raw, split, val_fraction=None):
    """(n_train, n_val, n_test) as the course splits: train is the first n_train of the
    official training set, val the n_val right after it (unless the source has its own
    validation set), test the first n_test of the official test set."""
    n_official, n_test_available = len(raw.X_train), len(raw.X_test)
    n_train, n_val, n_test = (_get(split, key) for key in ("train", "val", "test"))
    if raw.X_val is not None:
        n_val_available = len(raw.X_val)
        n_val = n_val_available if n_val is None else n_val
        n_train = n_official if n_train is None else n_train
        if n_val > n_val_available:
            raise DatasetError(
                f"split asks for {n_val} validation examples but the dataset has {n_val_available}"
            )
    else:
        if n_val is None:
            fraction = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
            n_val = int(round(fraction * n_official))
            if n_train is not None:  # a given train size keeps what it asked for
                n_val = max(0, min(n_val, n_official - n_train))
        n_train = n_official - n_val if n_train is None else n_train
        if n_train + n_val > n_official:
            raise DatasetError(
                f"split asks for train {n_train} + val {n_val} = {n_train + n_val} examples "
                f"but the training set has {n_official}"
            )
    n_test = n_test_available if n_test is None else n_test
    if n_test > n_test_available:
        raise DatasetError(
            f"split asks for {n_test} test examples but the test set has {n_test_available}"
        )
    if n_train <= 0:
        raise DatasetError(f"the training split must hold at least one example, got {n_train}")
    return n_train, n_val, n_test


def load_dataset(
    data_config,
    rng=None,
    data_dir=None,
    cache_dir=None,
    base_dir=None,
    progress=False,
    preprocess_state=None,
    feature_state=None,
):
    """Splits for the experiment file's `data:` block (a dict or the validated config).

    Inputs: rng a numpy Generator (synthetic data is drawn from it); data_dir the --data-dir
    option; cache_dir where extracted features are cached (default ~/.cache/nnctl); base_dir
    the folder relative paths in the config are read from; progress shows tqdm bars;
    preprocess_state the fitted states of a saved model, applied instead of fitting anew;
    feature_state likewise for learned features (data.features such as kmeans).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    raw = load_raw(data_config, rng, data_dir=data_dir, base_dir=base_dir)
    n_train, n_val, n_test = split_sizes(
        raw, _get(data_config, "split", {}), _get(data_config, "val_fraction")
    )
    val_start = 0 if raw.X_val is not None else n_train  # else val follows the training split
    subsample = _get(data_config, "subsample")
    if subsample is not None:  # each split keeps its own first examples
        n_train, n_val, n_test = (min(n, subsample) for n in (n_train, n_val, n_test))
    if raw.X_val is not None:
        X_val, y_val = raw.X_val[:n_val], raw.y_val[:n_val]
    else:
        X_val, y_val = (
            raw.X_train[val_start : val_start + n_val],
            raw.y_train[val_start : val_start + n_val],
        )
    arrays = {"train": raw.X_train[:n_train], "val": X_val, "test": raw.X_test[:n_test]}
    labels = {"train": raw.y_train[:n_train], "val": y_val, "test": raw.y_test[:n_test]}

    feature_spec = _get(data_config, "features")
    if feature_spec:
        if raw.image_shape is None:
            raise DatasetError("image features (data.features) need an image dataset")
        split_desc = [n_train, val_start, n_val, n_test, raw.X_val is not None]
        fit_seed = None
        if features.learns(feature_spec):  # drawn also when a saved state is given: same key
            fit_seed = int(rng.integers(2**63))
            split_desc.append(fit_seed)
        key = features.cache_key(raw.identity, split_desc, feature_spec)
        arrays, feature_state = features.cached_extract(
            arrays,
            feature_spec,
            cache_dir or default_cache_dir(),
            key,
            progress,
            seed=fit_seed,
            states=feature_state,
        )

    steps = list(_get(data_config, "preprocess", []))
    if preprocess_state is None:
        X_train, states = fit_pipeline(steps, arrays["train"])
    else:
        states = preprocess_state
        X_train = apply_pipeline(steps, states, arrays["train"])
    return Splits(
        X_train=np.ascontiguousarray(X_train),
        y_train=labels["train"],
        X_val=np.ascontiguousarray(apply_pipeline(steps, states, arrays["val"])),
        y_val=labels["val"],
        X_test=np.ascontiguousarray(apply_pipeline(steps, states, arrays["test"])),
        y_test=labels["test"],
        class_names=list(raw.class_names),
        image_shape=tuple(raw.image_shape) if raw.image_shape and not feature_spec else None,
        preprocess=steps,
        preprocess_state=states,
        features=list(feature_spec or []),
        feature_state=list(feature_state or []),
        identity=raw.identity,
    )


__all__ = [
    "DATASETS",
    "RawData",
    "Splits",
    "data_root",
    "download",
    "is_present",
    "load_dataset",
    "load_raw",
]
