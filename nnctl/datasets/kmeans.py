"""Single-layer k-means features (Coates, Lee & Ng, "An analysis of single-layer networks in
unsupervised feature learning", AISTATS 2011), learned on the training images only.

fit(images, rng) learns, from `patches` random patch_size x patch_size patches of the training
images:
  1. per-patch normalisation: each patch vector x (C * p * p values, pixels 0..255) becomes
     (x - mean(x)) / sqrt(var(x) + norm_epsilon)  (the paper's epsilon 10 for 0..255 pixels);
  2. ZCA whitening: mean m and W = V diag(1 / sqrt(lambda + whiten_epsilon)) V^T from the
     eigendecomposition V diag(lambda) V^T of the patches' covariance; x -> (x - m) W;
  3. k-means with `centroids` centres, `iterations` Lloyd iterations, started from distinct
     random patches; a centre that loses all its patches restarts at a random patch.
The state is {"centroids": (K, d), "mean": (d,), "whitening": (d, d)}, float32, d = C * p * p.

A patch's vector lists its values channel by channel, each channel row by row: (C, p, p).

encode(images, state) maps every patch at `stride` (rows = (H - p) // stride + 1 of them down,
cols across) to K activations and sums them over a pool x pool grid of image regions:
  triangle: f_k = max(0, mean_j(z_j) - z_k), z_k = ||x - c_k|| (the paper's "k-means triangle")
  hard:     f_k = 1 if c_k is the nearest centre, else 0
Region r of a grid of g spans rows [round(r * rows / g), round((r + 1) * rows / g)) (rounding
half up: 27 rows in 2 regions are rows 0..13 and 14..26, as in the paper's code), the same
across. Output (N, g * g * K) float32, ordered (region row, region col, centre).

Everything is batched: patches are views made with stride tricks, distances are one matrix
product per block of images (||x||^2 + ||c||^2 - 2 x.c, with the norms folded into the
product), and images are processed a few at a time so the (patches x K) block stays in cache.
"""

import math
from dataclasses import dataclass, fields

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnctl.errors import ConfigError, DatasetError

BLOCK_VALUES = 1 << 20  # (patches x K) values per distance block: 4 MB of float32, near the
# 2 MB L2 cache; measured on CIFAR-10 with K = 1600, blocks of one image (729 x 1600 values)
# encode about 1.4x faster than blocks of four.
KMEANS_BLOCK = 16384  # patches per assignment block while fitting


@dataclass(frozen=True)
class Options:
    """The options of the `kmeans` feature (data.features: [{kmeans: {...}}])."""

    patch_size: int = 6  # p: patches are p x p pixels (all channels)
    stride: int = 1  # pixels between two encoded patches
    centroids: int = 1600  # K, the number of k-means centres
    patches: int = 400_000  # random training patches the whitening and k-means learn from
    iterations: int = 10  # Lloyd iterations of k-means
    normalize: bool = True  # per-patch brightness and contrast normalisation
    norm_epsilon: float = 10.0  # added to each patch's variance (pixels 0..255)
    whiten: bool = True  # ZCA whitening
    whiten_epsilon: float = 0.1  # added to the covariance's eigenvalues
    pool: int = 2  # g: activations are summed over a g x g grid of regions
    encoder: str = "triangle"  # triangle | hard

    def __post_init__(self):
        positive = ("patch_size", "stride", "centroids", "patches", "iterations", "pool")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"kmeans option {name} must be a positive integer, got {value!r}")
        for name in ("norm_epsilon", "whiten_epsilon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"kmeans option {name} must be a number > 0, got {value!r}")
        for name in ("normalize", "whiten"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"kmeans option {name} must be true or false")
        if self.encoder not in ENCODERS:
            raise ConfigError(
                f"kmeans option encoder must be one of {', '.join(ENCODERS)}, got {self.encoder!r}"
            )
        if self.centroids > self.patches:
            raise ConfigError(
                f"kmeans needs at least as many patches ({self.patches}) as centroids "
                f"({self.centroids})"
            )


def options(**given):
    """Options from a config mapping; ConfigError naming an unknown option and the valid ones."""
    valid = [f.name for f in fields(Options)]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(f"unknown kmeans option {unknown[0]!r}; valid: {', '.join(valid)}")
    return Options(**given)


# -- patches ----------------------------------------------------------------------------------


def _check_images(images, opts):
    images = np.asarray(images)
    if images.ndim != 4:
        raise DatasetError(f"kmeans features need images (N, H, W, C), got shape {images.shape}")
    if images.shape[1] < opts.patch_size or images.shape[2] < opts.patch_size:
        raise DatasetError(
            f"images of {images.shape[1]}x{images.shape[2]} are smaller than one "
            f"{opts.patch_size}x{opts.patch_size} patch"
        )
    return images


def patch_grid(images, patch_size, stride=1):
    """A view (N, rows, cols, C, p, p) of every p x p patch of images (N, H, W, C) at stride.

    No copy: the patches of one image overlap in memory (stride tricks)."""
    windows = sliding_window_view(images, (patch_size, patch_size), axis=(1, 2))
    return windows[:, ::stride, ::stride]


def normalize_patches(X, epsilon):
    """Each row x of X (M, d) as (x - mean(x)) / sqrt(var(x) + epsilon), float32, in place
    when X is a float32 array."""
    X = np.asarray(X, dtype=np.float32)
    X -= X.mean(axis=1, keepdims=True)
    scale = np.einsum("ij,ij->i", X, X)
    scale /= X.shape[1]
    scale += epsilon
    np.sqrt(scale, out=scale)
    X /= scale[:, None]
    return X


def fit_whitening(X, epsilon):
    """ZCA whitening of the rows of X (M, d): (mean (d,), W (d, d)) float32 such that
    (X - mean) @ W has covariance V diag(lambda / (lambda + epsilon)) V^T (about the identity
    where the variance lambda is much larger than epsilon)."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    centred = X - mean
    cov = centred.T @ centred / len(X)
    eigenvalues, V = np.linalg.eigh(cov)
    eigenvalues = np.maximum(eigenvalues, 0)  # tiny negative rounding of a singular matrix
    W = (V / np.sqrt(eigenvalues + epsilon)) @ V.T
    return mean.astype(np.float32), W.astype(np.float32)


def _preprocess(X, state, opts):
    """Raw patch rows X (M, d) -> normalised and whitened float32 rows (a copy: X is left
    as it is, it may be a view of the caller's images)."""
    X = np.array(X, dtype=np.float32)
    if opts.normalize:
        X = normalize_patches(X, opts.norm_epsilon)
    if opts.whiten:
        X = X - state["mean"]
        X = X @ state["whitening"]
    return X


# -- k-means ----------------------------------------------------------------------------------


def assign(X, centroids):
    """Index (M,) of the nearest centre (Euclidean) of each row of X (M, d), in blocks: the
    largest x.c - ||c||^2 / 2, which ranks like the smallest ||x - c||^2."""
    half_norms = 0.5 * np.einsum("ij,ij->i", centroids, centroids)
    labels = np.empty(len(X), dtype=np.intp)
    for start in range(0, len(X), KMEANS_BLOCK):
        scores = X[start : start + KMEANS_BLOCK] @ centroids.T
        scores -= half_norms
        labels[start : start + KMEANS_BLOCK] = scores.argmax(axis=1)
    return labels


def kmeans(X, k, iterations, rng, progress=False, init=None):
    """Lloyd's k-means on the rows of X (M, d): centres (k, d) float32.

    Started from init (k, d) if given, else from k distinct random rows; each iteration
    assigns every row to its nearest centre (ties: the first) and moves each centre to the mean
    of its rows; a centre left without rows restarts at a random row. rng: a numpy Generator.
    """
    from tqdm import tqdm

    X = np.asarray(X, dtype=np.float32)
    if len(X) < k:
        raise DatasetError(f"k-means needs at least k = {k} rows, got {len(X)}")
    if init is None:
        centroids = X[rng.choice(len(X), size=k, replace=False)].copy()
    else:
        centroids = np.array(init, dtype=np.float32).reshape(k, X.shape[1])
    for _ in tqdm(range(iterations), desc="k-means", disable=not progress, leave=False):
        labels = assign(X, centroids)
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=k)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        used = counts > 0
        sums = np.add.reduceat(X[order], starts[used], axis=0, dtype=np.float64)
        centroids[used] = (sums / counts[used, None]).astype(np.float32)
        empty = np.flatnonzero(~used)
        if len(empty):
            centroids[empty] = X[rng.choice(len(X), size=len(empty), replace=False)]
    return centroids


def sample_patches(images, count, patch_size, rng):
    """count random patches (count, C * p * p) float32 of images (N, H, W, C), each from a
    random image at a random position."""
    grid = patch_grid(images, patch_size)
    n, rows, cols = grid.shape[:3]
    which = rng.integers(0, n, size=count)
    r = rng.integers(0, rows, size=count)
    c = rng.integers(0, cols, size=count)
    return grid[which, r, c].reshape(count, -1).astype(np.float32)


def fit(images, rng, progress=False, **given):
    """The state of the kmeans feature learned from training images (N, H, W, C)."""
    opts = options(**given)
    images = _check_images(images, opts)
    X = sample_patches(images, opts.patches, opts.patch_size, rng)
    if opts.normalize:
        X = normalize_patches(X, opts.norm_epsilon)
    d = X.shape[1]
    mean, W = np.zeros(d, np.float32), np.eye(d, dtype=np.float32)
    if opts.whiten:
        mean, W = fit_whitening(X, opts.whiten_epsilon)
        X = (X - mean) @ W
    centroids = kmeans(X, opts.centroids, opts.iterations, rng, progress)
    return {"centroids": centroids, "mean": mean, "whitening": W}


# -- encoding ---------------------------------------------------------------------------------


def squared_distances(X, centroids):
    """||x - c||^2 (M, K) float32 for rows X (M, d) and centres (K, d), by one matrix product
    of [x, 1, ||x||^2] and [-2c, ||c||^2, 1]; negative rounding is clipped to 0."""
    M, d = X.shape
    left = np.empty((M, d + 2), dtype=np.float32)
    left[:, :d] = X
    left[:, d] = 1
    left[:, d + 1] = np.einsum("ij,ij->i", X, X)
    right = np.empty((d + 2, len(centroids)), dtype=np.float32)
    right[:d] = -2 * centroids.T
    right[d] = np.einsum("ij,ij->i", centroids, centroids)
    right[d + 1] = 1
    out = left @ right
    np.maximum(out, 0, out=out)
    return out


def triangle(sq_distances):
    """The triangle activation max(0, mean_k(z) - z_k) of distances z = sqrt(sq_distances)
    (M, K), computed in place of its argument (float32)."""
    z = np.sqrt(sq_distances, out=sq_distances)
    # The row means as a matrix-vector product: faster than z.mean(axis=1) (BLAS).
    mu = z @ np.full((z.shape[1], 1), 1 / z.shape[1], dtype=z.dtype)
    np.subtract(mu, z, out=z)
    np.maximum(z, 0, out=z)
    return z


def hard(sq_distances):
    """One-hot (M, K) float32 of the nearest centre (ties: the first)."""
    out = np.zeros_like(sq_distances)
    out[np.arange(len(out)), sq_distances.argmin(axis=1)] = 1
    return out


ENCODERS = {"triangle": triangle, "hard": hard}


def region_bounds(n, grid):
    """The grid + 1 boundaries of n positions split into grid regions, rounding half up."""
    return [math.floor(r * n / grid + 0.5) for r in range(grid + 1)]


def pool_sums(F, grid):
    """Sums of F (N, rows, cols, K) over a grid x grid of regions: (N, grid * grid * K)."""
    N, rows, cols, K = F.shape
    if grid > rows or grid > cols:
        raise DatasetError(f"a {grid}x{grid} pooling grid needs at least {grid} patches across")
    rb, cb = region_bounds(rows, grid), region_bounds(cols, grid)
    out = np.empty((N, grid, grid, K), dtype=np.float32)
    for i in range(grid):
        for j in range(grid):
            out[:, i, j] = F[:, rb[i] : rb[i + 1], cb[j] : cb[j + 1]].sum(axis=(1, 2))
    return out.reshape(N, grid * grid * K)


def encode(images, state, **given):
    """kmeans features (N, pool * pool * K) float32 of images (N, H, W, C) with a fitted state."""
    opts = options(**given)
    images = _check_images(images, opts)
    centroids = np.asarray(state["centroids"], dtype=np.float32)
    grid = patch_grid(images, opts.patch_size, opts.stride)
    N, rows, cols = grid.shape[:3]
    d = int(np.prod(grid.shape[3:]))
    if centroids.shape[1] != d:
        raise DatasetError(
            f"the saved kmeans centres have {centroids.shape[1]} values each but patches of "
            f"these images have {d}"
        )
    K = len(centroids)
    out = np.empty((N, opts.pool * opts.pool * K), dtype=np.float32)
    per_block = max(1, BLOCK_VALUES // (rows * cols * K))  # images whose patches fill a block
    for start in range(0, N, per_block):
        block = grid[start : start + per_block]
        n = len(block)
        X = _preprocess(block.reshape(n * rows * cols, d), state, opts)
        F = ENCODERS[opts.encoder](squared_distances(X, centroids))
        out[start : start + n] = pool_sums(F.reshape(n, rows, cols, K), opts.pool)
    return out
