"""k-nearest neighbours with L2 or L1 distance, computed in row blocks of bounded memory."""

import numpy as np

from nnctl.errors import ModelError

METRICS = ("l2", "l1")
DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of scratch memory one block may use


class KNearestNeighbor:
    """The course's kNN classifier: memorise the training set, vote among the k nearest.

    memory_budget: bytes of temporary arrays one block of test rows may use; the block size
    is derived from it, so predicting 10,000 x 50,000 never builds the whole distance matrix.
    """

    def __init__(self, k=1, metric="l2", memory_budget=DEFAULT_MEMORY_BUDGET):
        self.k = k
        self.metric = _check_metric(metric)
        self.memory_budget = int(memory_budget)
        self.X_train = None
        self.y_train = None

    def spec(self):
        """The settings as plain data: enough, with the training arrays, to rebuild this model."""
        return {"type": "knn", "k": self.k, "metric": self.metric}

    def train(self, X, y):
        """Memorise the training data: X (N, D) numbers, y (N,) integer labels >= 0."""
        X = _check_2d(X, "X")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ModelError(
                f"y must be 1-D with one label per row of X ({len(X)}), got shape {y.shape}"
            )
        if len(X) == 0:
            raise ModelError("kNN needs at least one training example")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise ModelError("y must hold non-negative integer labels")
        self.X_train = _as_float(X)
        self.y_train = y.astype(np.int64)
        # Distances are computed on data shifted by the rounded mean: a large common offset
        # would otherwise swamp the float32 product a.b. Rounding keeps the shift exact for
        # integer pixels (and, by Sterbenz's lemma, for values near the offset); already
        # centred data gets a zero shift and no copy.
        self._shift = np.round(self.X_train.mean(axis=0, dtype=np.float64)).astype(
            self.X_train.dtype
        )
        self._X = self.X_train - self._shift if self._shift.any() else self.X_train
        self._train_sq = _row_sq_norms(self._X)
        self._train_sq_lowp = self._train_sq.astype(self._X.dtype)  # for the ranking key
        self._train_norm_max = float(np.sqrt(self._train_sq.max()))

    def compute_distances(self, X, metric="l2"):
        """The full (num_test, num_train) distance matrix between X (num_test, D) and the
        training rows, in float64: Euclidean (L2) or Manhattan (L1).

        L2 uses |a|^2 + |b|^2 - 2 a.b in float64 (float32 would lose the small differences
        between large squared norms), clamped at 0 before the square root.
        """
        X = self._check_test(X)
        metric = _check_metric(metric)
        train64 = self._X.astype(np.float64, copy=False)
        dists = np.empty((len(X), len(self.X_train)), dtype=np.float64)
        for rows in self._blocks(len(X), self._row_bytes(metric, exact=True)):
            dists[rows] = self._distances(X[rows].astype(np.float64), metric, train64)
            if metric == "l2":
                np.sqrt(dists[rows], out=dists[rows])
        return dists

    def predict_labels(self, dists, k=1):
        """Majority vote among the k nearest training points of each row of dists
        (num_test, num_train); ties between labels go to the smallest label. Returns (num_test,)."""
        self._check_k(k)
        dists = np.asarray(dists)
        return _vote(self.y_train[_k_smallest_sorted(dists, k)])

    def predict(self, X, k=None, metric=None):
        """Predicted labels (num_test,) for X (num_test, D), computed in row blocks.

        k and metric default to the ones given to the constructor.
        """
        k = self.k if k is None else k
        self._check_k(k)
        return _vote(self.y_train[self.neighbors(X, k, metric or self.metric)])

    def neighbors(self, X, k, metric="l2"):
        """Indices (num_test, k) of the k nearest training rows of each row of X, nearest first
        (equal distances in index order).

        L2 ranks with a single-precision matrix product (the data's dtype) and a bound on its
        rounding error: a row whose k+1 best approximate distances are all further apart than
        the bound keeps that order; any other row is re-ranked with exact float64 distances
        over every candidate the bound leaves possible. The result is the exact ranking, at
        the speed of the single-precision product.
        """
        X = self._check_test(X)
        metric = _check_metric(metric)
        out = np.empty((len(X), k), dtype=np.int64)
        for rows in self._blocks(len(X), self._row_bytes(metric, exact=False)):
            block = X[rows]
            if metric == "l1":
                out[rows] = _k_smallest_sorted(self._distances(block, metric, self._X), k)
            else:
                out[rows] = self._l2_neighbors(block, k)
        return out

    def _l2_neighbors(self, block, k):
        n_train, D = self._X.shape
        # Ranking key |c|^2 - 2 q.c: the squared distance less |q|^2, which is the same for
        # every candidate of a query.
        key = block @ self._X.T
        key *= -2
        key += self._train_sq_lowp
        order = _k_smallest_sorted(key, min(k + 1, n_train))
        approx = np.take_along_axis(key, order, axis=1)
        # A bound on the key's rounding error: 2 sqrt(D) ulps of (|q| + max |c|)^2. Rounding
        # errors of a D-term sum grow like sqrt(D) (the worst case D * eps never occurs in
        # blocked BLAS sums); on CIFAR-10 every query's largest error was under 1/60 of its bound.
        eps = np.finfo(key.dtype).eps
        err = 2 * np.sqrt(D) * eps * (np.sqrt(_row_sq_norms(block)) + self._train_norm_max) ** 2
        ambiguous = np.flatnonzero(np.any(np.diff(approx, axis=1) <= 2 * err[:, None], axis=1))
        result = order[:, :k].copy()
        if ambiguous.size:
            # Every true top-k neighbour has approx <= (approx k-th) + 2 err: re-rank those exactly.
            threshold = approx[ambiguous, k - 1] + 2 * err[ambiguous]
            sub = key[ambiguous]
            m = min(n_train, max(k, int((sub <= threshold[:, None]).sum(axis=1).max())))
            cand = (
                np.argpartition(sub, m - 1, axis=1)[:, :m]
                if m < n_train
                else np.broadcast_to(np.arange(n_train), (len(ambiguous), n_train))
            )
            exact = _exact_sq_dists_to(block[ambiguous], self._X, cand)
            result[ambiguous] = np.take_along_axis(cand, _k_smallest_sorted(exact, k), axis=1)
        return result

    def cross_validate(self, X, y, k_choices, num_folds=5, metric="l2"):
        """Accuracy of every k in k_choices on each of num_folds folds (np.array_split, in
        order, as in the course). Each fold's neighbours are found once, for the largest k,
        and reused for every k. Returns {k: [accuracy per fold]}.
        """
        X = _check_2d(X, "X")
        y = np.asarray(y)
        if len(y) != len(X):
            raise ModelError(f"X has {len(X)} rows but y has {len(y)} labels")
        if not 2 <= num_folds <= len(X):
            raise ModelError(
                f"num_folds must be between 2 and the number of examples {len(X)}, got {num_folds}"
            )
        k_choices = sorted(set(int(k) for k in k_choices))
        if not k_choices:
            raise ModelError("k_choices is empty")
        X_folds = np.array_split(X, num_folds)
        y_folds = np.array_split(y, num_folds)
        results = {k: [] for k in k_choices}
        for i in range(num_folds):
            fold = KNearestNeighbor(metric=metric, memory_budget=self.memory_budget)
            fold.train(
                np.concatenate(X_folds[:i] + X_folds[i + 1 :]),
                np.concatenate(y_folds[:i] + y_folds[i + 1 :]),
            )
            fold._check_k(k_choices[-1])
            nearest = fold.y_train[fold.neighbors(X_folds[i], k_choices[-1], metric)]
            for k in k_choices:
                results[k].append(float(np.mean(_vote(nearest[:, :k]) == y_folds[i])))
        return results

    # -- helpers ---------------------------------------------------------------------------

    def _check_test(self, X):
        """X as float rows shifted like the training data, after checking its shape."""
        self._check_trained()
        X = _check_2d(X, "X")
        if X.shape[1] != self.X_train.shape[1]:
            raise ModelError(
                f"X has {X.shape[1]} features but the training data has {self.X_train.shape[1]}"
            )
        X = _as_float(X)
        return X - self._shift if self._X is not self.X_train else X

    def _check_trained(self):
        if self.X_train is None:
            raise ModelError("kNN has not been trained: call train(X, y) first")

    def _check_k(self, k):
        self._check_trained()
        n_train = len(self.y_train)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n_train:
            raise ModelError(
                f"k must be an integer from 1 to the number of training points {n_train}, got {k!r}"
            )

    def _row_bytes(self, metric, exact):
        n_train, D = self.X_train.shape
        if metric == "l1":
            return n_train * D * self.X_train.itemsize + n_train * 8
        return n_train * (8 * 3 if exact else self.X_train.itemsize + 8 * 2)

    def _blocks(self, n, row_bytes):
        size = max(1, self.memory_budget // max(1, row_bytes))
        for start in range(0, n, size):
            yield slice(start, min(n, start + size))

    def _distances(self, block, metric, train):
        """L1 distances, or squared L2 distances, from block (b, D) to every row of train
        (the training data, possibly cast), as a float64 (b, n_train) array.

        The L2 product runs in the dtype of block and train; the norms are float64."""
        if metric == "l1":
            return np.abs(block[:, None, :] - train[None, :, :]).sum(axis=2, dtype=np.float64)
        sq = _row_sq_norms(block)[:, None] + self._train_sq[None, :]
        sq -= 2 * (block @ train.T)
        return np.maximum(sq, 0, out=sq)


def best_k(cv_results):
    """The k with the highest mean cross-validation accuracy (the smallest k on ties)."""
    return min(cv_results, key=lambda k: (-float(np.mean(cv_results[k])), k))


def _check_metric(metric):
    if metric not in METRICS:
        raise ModelError(f"unknown kNN metric {metric!r}; valid: {', '.join(METRICS)}")
    return metric


def _check_2d(X, name):
    X = np.asarray(X)
    if X.ndim != 2:
        raise ModelError(f"{name} must be 2-D (examples x features), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.number):
        raise ModelError(f"{name} must hold numbers, got dtype {X.dtype}")
    return X


def _as_float(X):
    """float32 or float64 C-contiguous (integers such as uint8 pixels become float32)."""
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float32
    return np.ascontiguousarray(X, dtype=dtype)


def _row_sq_norms(X):
    """Squared L2 norm of each row, accumulated in float64."""
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


def _exact_sq_dists_to(block, X_train, cand):
    """Exact float64 squared distances (b, c) from each row of block to its candidates (b, c)."""
    block64 = block.astype(np.float64)
    out = np.empty(cand.shape, dtype=np.float64)
    for j in range(cand.shape[1]):  # a loop over candidates (a few dozen), not over examples
        diff = block64 - X_train[cand[:, j]]
        out[:, j] = np.einsum("ij,ij->i", diff, diff)
    return out


def _k_smallest_sorted(dists, k):
    """Column indices (n, k) of the k smallest entries of each row, ascending; equal distances
    keep index order."""
    if k < dists.shape[1]:
        part = np.argpartition(dists, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(dists.shape[1]), dists.shape)
    part = np.sort(part, axis=1)  # index order first, so the stable sort below breaks ties by index
    order = np.argsort(np.take_along_axis(dists, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _vote(labels):
    """Most common label in each row of labels (n, k); ties go to the smallest label."""
    n_classes = int(labels.max()) + 1 if labels.size else 1
    counts = (labels[:, :, None] == np.arange(n_classes)).sum(axis=1)
    return np.argmax(counts, axis=1)  # argmax returns the first (smallest) maximum
