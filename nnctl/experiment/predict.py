"""Score new data with a saved run's model: `nnctl predict RUN INPUT`.

INPUT is one of
    FILE.npz       an array X (N, ...) of examples as the run's dataset holds them before any
                   preprocessing (images (N, H, W, C) with values 0..255), and optionally y
    FOLDER         PNG and JPEG images (read by matplotlib), in file-name order; scaled to
                   0..255 like the datasets' images, grey/RGB/RGBA converted to the model's
                   channels, and checked against its image size (--resize scales them)
    split:test     the run's own test (or validation: split:val) split, loaded exactly as
                   `nnctl eval` loads it, so the accuracy is eval's
    dataset:NAME   the whole test split of dataset NAME (with the run's other data settings)

Everything the run saved is applied as in training: its feature extraction (data.features),
then its preprocessing with the fitted state in model.npz. Nothing is written into the run
folder; the predictions go to a CSV file of their own.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl import atomic
from nnctl.datasets import load_raw
from nnctl.datasets.features import GRAY_WEIGHTS, extract
from nnctl.datasets.preprocess import apply_pipeline, flatten
from nnctl.errors import DatasetError, NnctlError, RunError
from nnctl.experiment.evaluate import load_run, load_split
from nnctl.experiment.run import generators
from nnctl.models import KNearestNeighbor

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("test", "val")
USAGE = (
    "give an .npz file with X, a folder of PNG/JPEG images, split:test, split:val or dataset:NAME"
)


@dataclass
class Predictions:
    """What predict() returns: one row per example."""

    run_dir: Path
    source: str
    names: list | None  # a label per example (image file names), or None
    predicted: np.ndarray  # (N,) int64 class indices
    class_names: list
    probabilities: np.ndarray | None  # (N, C) float64 for softmax models, else None
    labels: np.ndarray | None  # (N,) int64 true classes when the input has them
    note: str | None = None

    @property
    def accuracy(self):
        if self.labels is None or len(self.labels) == 0:
            return None
        return float(np.mean(self.predicted == self.labels))


def predict(run_dir, source, data_dir=None, cache_dir=None, resize=False):
    """Predictions of the saved run at run_dir (a sweep folder: its best trial) for source
    (see the module's list). RunError / DatasetError naming the problem for an input that does
    not fit the model; nothing is written."""
    saved = load_run(run_dir)
    names, labels, note = None, None, None
    if source.startswith("split:"):
        X, labels = _own_split(saved, source.removeprefix("split:"), data_dir, cache_dir)
    elif source.startswith("dataset:"):
        X, labels, note = _named_test_split(saved, source.removeprefix("dataset:"), data_dir)
    else:
        path = Path(source)
        if path.is_dir():
            names, raw = read_images(path, _image_shape(saved), resize)
        elif path.is_file():
            raw, labels = read_npz_input(path)
        else:
            raise RunError(f"{source} does not exist; {USAGE}")
        X = prepare(saved, raw)
    predicted, probabilities = _score(saved, X)
    class_names = list(saved.info["class_names"])
    return Predictions(
        saved.folder.path, source, names, predicted, class_names, probabilities, labels, note
    )


def prepare(saved, raw):
    """Raw examples (N, ...) as the model saw its training data: the run's features, then its
    preprocessing (fitted state from model.npz). DatasetError when they do not fit."""
    features = saved.config.data.features
    if features and raw.ndim != 4:
        raise DatasetError(
            "this run extracts image features (data.features), so it needs images "
            f"(N, H, W, C); got an array of shape {raw.shape}"
        )
    shape = _image_shape(saved)
    mismatch = shape is not None and tuple(raw.shape[1:]) != shape  # broadcasting would hide it
    try:
        X = extract(raw, features, saved.feature_states) if features else raw
        X = apply_pipeline(saved.info["preprocess"], saved.states, X)
    except NnctlError:
        raise
    except ValueError:  # a fitted mean or std of another shape
        X = None
    if mismatch or X is None or int(np.prod(X.shape[1:])) != _input_dim(saved):
        raise DatasetError(
            f"examples of shape {raw.shape[1:]} do not fit the model: it takes examples like "
            f"its {saved.config.data.dataset} data ({_input_dim(saved)} values each after "
            "its features and preprocessing)"
        )
    return X


def _input_dim(saved):
    """The number of values per example the model takes (after preprocessing)."""
    if isinstance(saved.model, KNearestNeighbor):
        return int(saved.model.X_train.shape[1])
    return saved.info["spec"]["input_dim"]


def _image_shape(saved):
    """(H, W, C) of the images the run trained on; None when the run used features (their
    image size is not saved) or had no images."""
    shape = saved.info.get("image_shape")
    return tuple(shape) if shape else None


def _score(saved, X):
    """(predicted (N,) int64, probabilities (N, C) or None) for prepared X."""
    model = saved.model
    if isinstance(model, KNearestNeighbor):
        X = flatten(X)
    predicted = np.asarray(model.predict(X))
    if predicted.ndim != 1 or not np.issubdtype(predicted.dtype, np.integer):
        raise RunError(
            f"{saved.folder.path} holds a {saved.config.model.type} model, which does not "
            "predict classes; nnctl predict scores classifiers"
        )
    probabilities = None
    if saved.info["spec"].get("loss") == "softmax":  # scores are logits of probabilities
        batches = [model.loss(X[start : start + 1000]) for start in range(0, len(X), 1000)]
        probabilities = _softmax(np.concatenate(batches))
    return predicted.astype(np.int64), probabilities


def _softmax(scores):
    """Class probabilities (N, C) float64 from scores (N, C), stable for large scores."""
    shifted = np.asarray(scores, dtype=np.float64)
    shifted = shifted - shifted.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


# -- inputs ---------------------------------------------------------------------------------


def _own_split(saved, split, data_dir, cache_dir):
    """The run's own split, loaded as `nnctl eval` loads it (already preprocessed)."""
    if split not in SPLITS:
        raise RunError(f"split:{split} is not a split; use split:test or split:val")
    return load_split(saved, split, data_dir, cache_dir)[1:]


def _named_test_split(saved, name, data_dir):
    """(prepared X, labels or None, note) for the test split of dataset `name`."""
    data = saved.config.data.model_copy(update={"dataset": name})
    raw = load_raw(data, generators(saved.config.seed)[0], data_dir=data_dir)
    if len(raw.X_test) == 0:
        raise DatasetError(f"dataset {name} has no test split")
    X = prepare(saved, raw.X_test)
    model_names = list(saved.info.get("class_names") or [])
    if model_names and list(raw.class_names) != model_names:
        return X, None, f"{name}'s classes differ from the model's: no accuracy is reported"
    return X, raw.y_test, None


def read_npz_input(path):
    """(X, y or None) from an .npz with an array X (and optionally labels y)."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {key: f[key] for key in f.files if key in ("X", "y")}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{path} is not a readable .npz file ({err})") from None
    if "X" not in arrays:
        raise DatasetError(f"{path} has no array X (the examples to predict)")
    X, y = arrays["X"], arrays.get("y")
    if X.ndim < 2 or not np.issubdtype(X.dtype, np.number) or len(X) == 0:
        raise DatasetError(f"{path}: X must be a non-empty numeric (N, ...) array, got {X.shape}")
    if np.issubdtype(X.dtype, np.floating) and not np.all(np.isfinite(X)):
        raise DatasetError(f"{path}: X holds NaN or infinite values")
    if y is not None and (
        y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0)
    ):
        raise DatasetError(f"{path}: y must hold one class index >= 0 per row of X")
    return X, None if y is None else y.astype(np.int64)


def read_images(folder, image_shape, resize=False):
    """(file names, images (N, H, W, C) float32 in 0..255) from the PNG/JPEG files in folder.

    image_shape: the model's (H, W, C), or None (a features run: any size, as they are).
    Channels are converted (grey <-> RGB by ITU-R BT.601 luma or repetition, alpha dropped);
    a different size is a DatasetError naming the file, unless resize (bilinear)."""
    from matplotlib import image as mpimage

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"{folder} holds no PNG or JPEG images")
    images = []
    for path in files:
        try:
            picture = mpimage.imread(path)
        except (OSError, ValueError, SyntaxError) as err:
            raise DatasetError(f"{path} cannot be read as an image ({err})") from None
        picture = _as_0_255(picture)
        if image_shape is not None:
            picture = _fit(picture, image_shape, path, resize)
        images.append(picture)
    shapes = {p.shape for p in images}
    if len(shapes) > 1:
        raise DatasetError(f"the images in {folder} differ in size ({sorted(shapes)})")
    return [p.name for p in files], np.stack(images).astype(np.float32)


def _as_0_255(picture):
    """(H, W, C) float64 in 0..255, like the datasets' uint8 images: matplotlib reads PNGs
    as floats in 0..1 and JPEGs as uint8; an alpha channel is dropped."""
    scale = 255 if np.issubdtype(picture.dtype, np.floating) else 1
    picture = np.asarray(picture, dtype=np.float64) * scale
    if picture.ndim == 2:
        picture = picture[:, :, None]
    if picture.shape[2] in (2, 4):  # grey + alpha, RGBA
        picture = picture[:, :, :-1]
    return picture


def _fit(picture, image_shape, path, resize):
    H, W, C = image_shape
    if picture.shape[2] != C:
        if C == 1:
            picture = (picture @ GRAY_WEIGHTS.astype(np.float64))[:, :, None]
        else:
            picture = np.repeat(picture[:, :, :1], C, axis=2)
    if picture.shape[:2] != (H, W):
        if not resize:
            h, w = picture.shape[:2]
            raise DatasetError(
                f"{path} is {w}x{h} pixels but the model takes {W}x{H} images "
                "(--resize scales them)"
            )
        picture = _resize(picture, H, W)
    return picture


def _resize(picture, H, W):
    """Bilinear resampling of (h, w, C) to (H, W, C), pixel centres aligned."""
    h, w = picture.shape[:2]
    rows = np.clip((np.arange(H) + 0.5) * h / H - 0.5, 0, h - 1)
    cols = np.clip((np.arange(W) + 0.5) * w / W - 0.5, 0, w - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
    top = picture[r0][:, c0] * (1 - fc) + picture[r0][:, c1] * fc
    bottom = picture[r1][:, c0] * (1 - fc) + picture[r1][:, c1] * fc
    return top * (1 - fr) + bottom * fr


# -- output -----------------------------------------------------------------------------------


def predictions_csv(predictions):
    """The CSV text: index, [file], class, class_name, [label], [p_<class name> ...]."""
    p = predictions
    header = ["index"] + (["file"] if p.names is not None else []) + ["class", "class_name"]
    if p.labels is not None:
        header.append("label")
    if p.probabilities is not None:
        header += [f"p_{name}" for name in p.class_names[: p.probabilities.shape[1]]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for i, cls in enumerate(p.predicted):
        row = [i] + ([p.names[i]] if p.names is not None else []) + [cls, p.class_names[cls]]
        if p.labels is not None:
            row.append(int(p.labels[i]))
        if p.probabilities is not None:
            row += [repr(float(v)) for v in p.probabilities[i]]
        writer.writerow(row)
    return buffer.getvalue()


def write_predictions(predictions, path):
    """The CSV written atomically to path; returns path."""
    path = Path(path)
    try:
        atomic.write_text(path, predictions_csv(predictions))
    except OSError as err:
        raise RunError(f"cannot write {path} ({err.strerror or err})") from None
    return path
