"""Image features of the course's features exercise, computed for a whole batch at once.

- hog: histogram of oriented gradients on the grayscale image: central-difference gradients
  ([-1, 0, 1], zero at the border), unsigned orientations in [0, 180) split into 9 bins,
  magnitudes summed per cell of 8 x 8 pixels and divided by the cell's pixel count.
  Output (N, cells_y * cells_x * 9), ordered (cell_y, cell_x, bin).
- color_histogram: histogram of the hue channel (HSV) of RGB pixels in 0..255 into `bins`
  equal bins over [0, 1), normalised to the fraction of pixels per bin. Output (N, bins).
- kmeans: single-layer k-means features (Coates, Lee & Ng 2011), see nnctl.datasets.kmeans.
  Learned from the training images (FITS), so it has a state: a list with one dict of arrays
  per feature of the spec (empty for the others), saved with a run's model.

Features are computed in chunks with NumPy array operations (no Python loop over images) and
cached on disk, keyed by the data, the split, the feature spec (and the seed of a learned
feature) and FEATURES_VERSION; the cache file holds the learned states too.
"""

import hashlib
import inspect
import json
import logging
import zipfile
from pathlib import Path

import numpy as np

from nnctl import atomic
from nnctl.datasets import kmeans
from nnctl.errors import ConfigError, DatasetError
from nnctl.machine import cpu_count
from nnctl.registry import Registry, named_options

log = logging.getLogger(__name__)

FEATURES_VERSION = 1  # bump whenever a feature's output changes, to invalidate caches
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma


def _grayscale(images):
    """(N, H, W, C) -> (N, H, W) float32; C == 1 is taken as it is."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] not in (1, 3):
        raise DatasetError(
            f"image features need images (N, H, W, 1 or 3), got shape {images.shape}"
        )
    if images.shape[3] == 1:
        return images[..., 0].astype(np.float32)
    # One matrix-vector product over all pixels (faster than three strided weighted sums).
    pixels = images.reshape(-1, 3).astype(np.float32, copy=False)
    return (pixels @ GRAY_WEIGHTS).reshape(images.shape[:3])


def hog(images, orientations=9, cell_size=8):
    """HOG features of images (N, H, W, C) -> (N, (H // cell) * (W // cell) * orientations)."""
    gray = _grayscale(images)
    N, H, W = gray.shape
    cells_y, cells_x = H // cell_size, W // cell_size
    if cells_y == 0 or cells_x == 0:
        raise DatasetError(
            f"images of {H}x{W} are smaller than one {cell_size}x{cell_size} HOG cell"
        )
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    gx[:, :, 1:-1] = gray[:, :, 2:] - gray[:, :, :-2]
    gy[:, 1:-1, :] = gray[:, 2:, :] - gray[:, :-2, :]
    gx = gx[:, : cells_y * cell_size, : cells_x * cell_size]
    gy = gy[:, : cells_y * cell_size, : cells_x * cell_size]
    magnitude = gx * gx
    magnitude += gy * gy
    np.sqrt(magnitude, out=magnitude)
    # Orientation in units of one bin, unsigned (a gradient and its negation agree): atan2's
    # (-pi, pi] scaled to (-orientations, orientations], negatives moved up by a half turn.
    turns = np.arctan2(gy, gx)
    turns *= orientations / np.pi
    turns += np.float32(orientations) * (turns < 0)
    bins = turns.astype(np.intp)
    # `orientations` itself comes from an angle of exactly 180 degrees (gy = +0), which is 0
    # degrees, or from a tiny negative angle that rounded up, which belongs in the last bin.
    edge = bins >= orientations
    if edge.any():
        bins[edge] = np.where(gy[edge] == 0, 0, orientations - 1)
    # Each pixel's (cell, bin) slot in one flat histogram over all images: a single bincount.
    rows = np.arange(cells_y * cell_size) // cell_size
    cols = np.arange(cells_x * cell_size) // cell_size
    cell = rows[:, None] * cells_x + cols[None, :]
    n_cells = cells_y * cells_x
    slot = bins
    slot += cell * orientations
    slot += (np.arange(N) * (n_cells * orientations))[:, None, None]
    hist = np.bincount(
        slot.ravel(), weights=magnitude.ravel(), minlength=N * n_cells * orientations
    )
    return (hist / (cell_size * cell_size)).astype(np.float32).reshape(N, n_cells * orientations)


def _hue_sixths(images):
    """Hue of RGB images (N, H, W, 3) as a fraction num / den of a sixth-turn.

    hue = num / (6 * den) in [0, 1), with grey pixels (max == min) at 0 (den 1). Pixels that
    are bytes (uint8, as datasets store them) are computed in int16, exactly; others in
    float32, where integer values are exact too. Either way a bin edge that falls exactly on
    a pixel's hue (5/7 with 7 bins, say) is decided exactly rather than by rounding.
    """
    images = np.asarray(images)
    rgb = images.astype(np.int16 if images.dtype == np.uint8 else np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    maxc = np.maximum(np.maximum(r, g), b)
    delta = maxc - np.minimum(np.minimum(r, g), b)
    # The sector formulas of the HSV hue, red first, then green, then blue.
    num = np.where(r == maxc, g - b, np.where(g == maxc, b - r + 2 * delta, r - g + 4 * delta))
    num += np.where(num < 0, 6 * delta, 0).astype(num.dtype)  # red's sector wraps around
    delta[delta == 0] = 1
    return num, delta


def hue(images):
    """Hue in [0, 1) of RGB images (N, H, W, 3) with values 0..255, float64 (N, H, W)."""
    num, den = _hue_sixths(images)
    return num.astype(np.float64) / (6 * den.astype(np.float64))


def color_histogram(images, bins=10):
    """Normalised hue histograms of RGB images (N, H, W, 3) in 0..255 -> (N, bins)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3:
        raise DatasetError(
            f"color_histogram needs RGB images (N, H, W, 3), got shape {images.shape}"
        )
    N = len(images)
    num, den = _hue_sixths(images)
    # Exact integers in, a correctly rounded quotient out: an integer quotient stays exact.
    quotient = num.astype(np.float32)
    quotient *= bins
    quotient /= (6 * den).astype(np.float32)
    index = np.minimum(quotient.astype(np.intp), bins - 1)
    index += (np.arange(N) * bins)[:, None, None]
    counts = np.bincount(index.ravel(), minlength=N * bins).reshape(N, bins)
    return (counts / (index[0].size)).astype(np.float32)


# name -> function(images, **options) -> (N, F); a learned feature's takes its state second:
# function(images, state, **options).
FEATURES = Registry(
    "feature", {"hog": hog, "color_histogram": color_histogram, "kmeans": kmeans.encode}
)
# The features learned from the training images: name -> fit(images, rng, progress, **options)
# -> state (a dict of arrays).
FITS = {"kmeans": kmeans.fit}
OPTION_CHECKS = {"kmeans": kmeans.options}  # the others: their functions' keyword arguments


def normalize_spec(spec):
    """[hog, {color_histogram: {bins: 10}}] -> [("hog", {}), ("color_histogram", {"bins": 10})].

    ConfigError for an unknown name or option, naming the valid ones."""
    items = [named_options(item, FEATURES) for item in spec]
    for name, opts in items:
        check = OPTION_CHECKS.get(name)
        if check is not None:
            check(**opts)
            continue
        valid = [p for p in inspect.signature(FEATURES[name]).parameters if p != "images"]
        unknown = sorted(set(opts) - set(valid))
        if unknown:
            raise ConfigError(
                f"unknown {name} option {unknown[0]!r}; valid: {', '.join(valid) or 'none'}"
            )
    return items


def learns(spec):
    """Whether any feature of spec is learned from the training images."""
    return any(name in FITS for name, _ in normalize_spec(spec))


def fit_states(images, spec, rng, progress=False):
    """The state of each feature of spec learned from training images (N, H, W, C): a list
    aligned with spec ({} for features that learn nothing). rng: a numpy Generator."""
    return [
        FITS[name](images, rng, progress, **opts) if name in FITS else {}
        for name, opts in normalize_spec(spec)
    ]


def _feature(name, opts, state):
    """The function computing feature `name` for a chunk of images."""
    if name in FITS:
        if not state:
            raise DatasetError(f"feature {name} is learned: it needs its fitted state")
        return lambda chunk: FEATURES[name](chunk, state, **opts)
    return lambda chunk: FEATURES[name](chunk, **opts)


def extract(images, spec, states=None, chunk_size=1000, progress=False):
    """The features of spec, concatenated in order, for images (N, H, W, C): (N, F) float32.

    states: the learned states of fit_states (needed when spec has a learned feature).
    Chunks of chunk_size images are computed on a thread per core: NumPy releases the GIL
    inside its array operations, so chunks proceed side by side (the result does not depend
    on how they are scheduled).
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    spec = normalize_spec(spec)
    states = [{} for _ in spec] if states is None else states
    functions = [
        _feature(name, opts, state) for (name, opts), state in zip(spec, states, strict=True)
    ]
    if len(images) == 0:
        empty = np.zeros((1, *images.shape[1:]), np.float32)
        dims = sum(function(empty).shape[1] for function in functions)
        return np.zeros((0, dims), dtype=np.float32)

    def features_of(start):
        chunk = images[start : start + chunk_size]
        return np.concatenate([function(chunk) for function in functions], axis=1)

    starts = range(0, len(images), chunk_size)
    if len(starts) == 1:
        return np.ascontiguousarray(features_of(0))
    # The chunks are the parallelism: BLAS (the grayscale product) stays on one thread, or its
    # idle threads would spin against the chunk threads.
    with (
        threadpool_limits(limits=1),
        ThreadPoolExecutor(max_workers=min(len(starts), cpu_count())) as pool,
    ):
        parts = list(
            tqdm(
                pool.map(features_of, starts),
                total=len(starts),
                desc="features",
                disable=not progress,
            )
        )
    return np.ascontiguousarray(np.concatenate(parts))


def cache_key(identity, split_desc, spec):
    """A hash of everything the features depend on."""
    from nnctl import __version__

    blob = json.dumps(
        {
            "data": identity,
            "split": split_desc,
            "spec": normalize_spec(spec),
            "v": FEATURES_VERSION,
            "nnctl": __version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def cached_extract(splits, spec, cache_dir, key, progress=False, seed=None, states=None):
    """(features, states): the features of each named image array in splits ({'train': X,
    ...}) and the learned states they were computed with.

    states None: learned features are fitted on splits['train'] with a Generator from seed
    (which key must cover); else the given states (a saved model's) are used as they are.
    The result comes from the cache at cache_dir/features/<key>.npz when that is intact and
    holds the same states (given states that differ: <key>-<digest of the states>.npz), else
    it is computed and cached atomically. A cache file that cannot be read or does not match
    is rebuilt, never trusted.
    """
    folder = Path(cache_dir) / "features"
    paths = [folder / f"{key}.npz"]
    if states is not None:
        paths.append(folder / f"{key}-{states_digest(states)}.npz")
    for path in paths:
        cached = _read_cache(path, splits, len(normalize_spec(spec)))
        if cached is not None and (states is None or same_states(cached[1], states)):
            log.info("features loaded from cache %s", path)
            return cached
    if states is None:
        states = fit_states(splits["train"], spec, np.random.default_rng(seed), progress)
    features = {
        name: extract(X, spec, states=states, progress=progress) for name, X in splits.items()
    }
    path = paths[-1]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.save_npz(path, {**features, **_state_arrays(states, "state")})
    except OSError as err:  # a read-only cache costs time, not correctness
        log.warning("could not write the feature cache %s (%s)", path, err)
    return features, states


def _read_cache(path, splits, n_features):
    """(features, states) from a cache file matching splits, or None (absent or damaged)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            cached = {name: f[name] for name in splits}
            states = _states_from(f, "state", n_features)
        if all(len(cached[name]) == len(X) for name, X in splits.items()):
            return cached, states
        log.warning("feature cache %s does not match the data; rebuilding it", path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        log.warning("feature cache %s is corrupt; rebuilding it", path)
    return None


def _state_arrays(states, prefix):
    return {
        f"{prefix}/{i}/{key}": value
        for i, state in enumerate(states)
        for key, value in state.items()
    }


def _states_from(arrays, prefix, n_features):
    states = [{} for _ in range(n_features)]
    for full_key in arrays:
        parts = full_key.split("/")
        if len(parts) == 3 and parts[0] == prefix:
            states[int(parts[1])][parts[2]] = np.asarray(arrays[full_key])
    return states


def same_states(a, b):
    """Whether two lists of states hold the same arrays."""
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
        for x, y in zip(a, b, strict=True)
    )


def states_digest(states):
    """A short hash of the learned states' arrays."""
    digest = hashlib.sha256()
    for key, value in sorted(_state_arrays(states, "state").items()):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]


def states_to_arrays(spec, states):
    """The learned states as {'preprocess/features/<i>/<name>/<key>': array}, the names under
    which model.npz keeps them beside the preprocessing state."""
    names = [name for name, _ in normalize_spec(spec or [])]
    return {
        f"preprocess/features/{i}/{names[i]}/{key}": value
        for i, state in enumerate(states)
        for key, value in state.items()
    }


def states_from_arrays(spec, arrays):
    """The inverse of states_to_arrays for the same spec; DatasetError when a learned
    feature's state is missing or belongs to another feature."""
    spec = normalize_spec(spec or [])
    states = [{} for _ in spec]
    for full_key, value in arrays.items():
        parts = full_key.split("/")
        if len(parts) == 5 and parts[:2] == ["preprocess", "features"]:
            i, name, key = int(parts[2]), parts[3], parts[4]
            if i >= len(spec) or spec[i][0] != name:
                raise DatasetError(f"saved feature state {full_key} does not match the features")
            states[i][key] = np.asarray(value)
    for (name, _), state in zip(spec, states, strict=True):
        if name in FITS and not state:
            raise DatasetError(f"the saved model lacks the learned state of feature {name}")
    return states
