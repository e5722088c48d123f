"""k-nearest neighbours with L2 or L1 distance, computed in row blocks of bounded memory."""

import numpy as np

from nnctl.errors import ModelError

METRICS = ("l2", "l1")
DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of scratch memory one block may use
# compute_distances recomputes from differences every L2 entry whose float64 expansion
# |a|^2 + |b|^2 - 2 a.b may be off by more than this fraction of the squared distance.
L2_REL_TOL = 1e-9


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
        # The fast L2 ranking works on a copy shifted by the rounded column mean: a large common
        # offset would otherwise swamp the single-precision product a.b. The copy is rounded to
        # the data's dtype, so it only chooses candidates (its rounding is part of the ranking's
        # error bound); every exact distance is computed from X_train itself.
        self._shift = np.round(self.X_train.mean(axis=0, dtype=np.float64))
        self._X = self._shifted(self.X_train)
        train_sq = _row_sq_norms(self._X)
        self._train_sq_lowp = train_sq.astype(self._X.dtype)  # for the ranking key
        self._train_norm_max = float(np.sqrt(train_sq.max()))

    def compute_distances(self, X, metric="l2"):
        """The full (num_test, num_train) distance matrix between X (num_test, D) and the
        training rows, in float64: Euclidean (L2) or Manhattan (L1).

        L1 sums float64 differences of the original values. L2 uses |a|^2 + |b|^2 - 2 a.b in
        float64 on the data shifted (in float64) by the training mean, and recomputes from
        float64 differences of the original values every entry whose worst-case rounding bound
        (Higham's gamma_{D+3} (|a| + |b|)^2) exceeds L2_REL_TOL of its squared distance. Every
        entry is therefore within about L2_REL_TOL / 2 of the exact distance; for float32 data
        the recomputed ones are exact. neighbors() gives the exact ranking.
        """
        X = self._check_test(X)
        metric = _check_metric(metric)
        dists = np.empty((len(X), len(self.X_train)), dtype=np.float64)
        if metric == "l1":
            for rows in self._blocks(len(X), self._row_bytes(metric, exact=True)):
                dists[rows] = _l1_float64(X[rows], self.X_train)
            return dists
        train64 = self.X_train - self._shift  # float64
        train_sq = _row_sq_norms(train64)
        train_norm = np.sqrt(train_sq)
        gamma = (X.shape[1] + 3) * np.finfo(np.float64).eps
        for rows in self._blocks(len(X), self._row_bytes(metric, exact=True)):
            block64 = X[rows] - self._shift
            block_sq = _row_sq_norms(block64)
            sq = dists[rows]
            np.add(block_sq[:, None], train_sq[None, :], out=sq)
            product = block64 @ train64.T
            product *= 2
            sq -= product
            block_norm = np.sqrt(block_sq)
            # Rows whose largest bound is within the tolerance of their smallest entry are done.
            worst = gamma * (block_norm + train_norm.max()) ** 2
            check = np.flatnonzero(worst > L2_REL_TOL * sq.min(axis=1))
            bound = block_norm[check, None] + train_norm[None, :]
            bound **= 2
            bound *= gamma
            i, j = np.nonzero(bound > L2_REL_TOL * sq[check])
            sq[check[i], j] = self._exact_pairs(X[rows], check[i], j, metric)
            np.maximum(sq, 0, out=sq)
            np.sqrt(sq, out=sq)
        return dists

    def predict_labels(self, dists, k=1):
        """Majority vote among the k nearest training points of each row of dists
        (num_test, num_train), equal distances in index order; ties between labels go to the
        smallest label. Returns (num_test,)."""
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
        (equal distances in index order): the exact ranking of float64 distances computed from
        the original values.

        A fast approximate distance in the data's dtype (for L2, a single-precision matrix
        product on the shifted copy) picks k + 1 candidates per query; their exact float64
        distances order them. The k-th of those exact distances bounds the true k-th, and a
        bound on the approximation's error says whether a training row outside the candidates
        could beat it: only for such queries are all the rows the bound leaves possible
        measured exactly too.
        """
        X = self._check_test(X)
        metric = _check_metric(metric)
        out = np.empty((len(X), k), dtype=np.int64)
        for rows in self._blocks(len(X), self._row_bytes(metric, exact=False)):
            out[rows] = self._block_neighbors(X[rows], k, metric)
        return out

    def _block_neighbors(self, block, k, metric):
        """neighbors() for one block (b, D) of test rows."""
        n_train = len(self.X_train)
        approx, lower, admit = (self._l2_approx if metric == "l2" else self._l1_approx)(block)
        m = min(k + 1, n_train)
        cand = _smallest_unordered(approx, m)
        exact = self._exact_to(block, cand, metric)
        result = _rank(cand, exact, k)
        if m == n_train:
            return result
        # kth (b,): an exact distance that at least k training rows reach, so the true k-th is
        # no larger. Every row outside cand has approx >= edge, so a distance >= lower(edge).
        kth = np.partition(exact, k - 1, axis=1)[:, k - 1]
        edge = np.take_along_axis(approx, cand, axis=1).max(axis=1)
        unsure = np.flatnonzero(kth >= lower(edge, slice(None)))
        if unsure.size:
            # Every row within kth of the query has approx <= admit(kth): measure them all.
            sub = approx[unsure]
            within = sub <= admit(kth[unsure], unsure)[:, None]
            cand = _smallest_unordered(sub, max(k, int(within.sum(axis=1).max())))
            result[unsure] = _rank(cand, self._exact_to(block[unsure], cand, metric), k)
        return result

    def _l2_approx(self, block):
        """Ranking keys |c|^2 - 2 q.c (b, n_train) in the data's dtype, and the bounds that tie
        them to the exact squared distance d = |q - c|^2: d >= lower(key), and d <= t implies
        key <= admit(t). Both take the rows (an index) their first argument belongs to."""
        D = self._X.shape[1]
        shifted = self._shifted(block)
        # -2 q.c as (-2 q).c: scaling by a power of two is exact, and saves a pass over key
        key = np.multiply(shifted, -2, dtype=shifted.dtype) @ self._X.T
        key += self._train_sq_lowp
        # key + |q'|^2 (q', c' the rounded shifted rows) is within err of d. Rounding the shift
        # moves each row by eps/2 of its norm, so d by at most ~eps (|q'| + |c'|)^2; the
        # product's rounding errors grow like sqrt(D) (the worst case D * eps never occurs in
        # blocked BLAS sums; on CIFAR-10 every query's largest error was under 1/60 of the
        # 2 sqrt(D) term). The spare eps covers the float64 arithmetic on the bounds.
        eps = np.finfo(key.dtype).eps
        q_sq = _row_sq_norms(shifted)
        err = (2 * np.sqrt(D) + 2) * eps * (np.sqrt(q_sq) + self._train_norm_max) ** 2
        low, high = q_sq - err, err - q_sq

        def lower(values, rows):
            return values + low[rows]

        def admit(t, rows):
            return t + high[rows]

        return key, lower, admit

    def _l1_approx(self, block):
        """L1 distances (b, n_train) from differences in the training data's dtype summed in
        float64, with bounds as _l2_approx's. Each difference is rounded by at most u = eps/2
        of itself and the float64 sum adds at most D float64 ulps, so approx is within rel of
        d; float64 test rows against float32 training rows are rounded first, which moves d by
        at most u |q|_1 (slack)."""
        low = block.astype(self.X_train.dtype, copy=False)
        diff = low[:, None, :] - self.X_train[None, :, :]
        np.abs(diff, out=diff)
        approx = diff.sum(axis=2, dtype=np.float64)
        u = np.finfo(self.X_train.dtype).eps / 2
        rel = 2 * u + 2 * block.shape[1] * np.finfo(np.float64).eps
        slack = 2 * u * np.abs(block).sum(axis=1) if low is not block else np.zeros(len(block))

        def lower(values, rows):
            return (values - slack[rows]) / (1 + 2 * rel)

        def admit(t, rows):
            return t * (1 + 2 * rel) + 2 * slack[rows]

        return approx, lower, admit

    def _exact_to(self, block, cand, metric):
        """Exact float64 distances (squared for L2) (b, c) from block (b, D) to the training
        rows cand (b, c)."""
        if cand.shape[1] > len(block):  # few queries, many candidates: by pairs
            rows = np.repeat(np.arange(len(block)), cand.shape[1])
            return self._exact_pairs(block, rows, cand.ravel(), metric).reshape(cand.shape)
        block64 = block.astype(np.float64)
        out = np.empty(cand.shape, dtype=np.float64)
        for j in range(cand.shape[1]):  # a loop over candidates (a few), not over examples
            out[:, j] = _float64_distance(block64 - self.X_train[cand[:, j]], metric)
        return out

    def _exact_pairs(self, block, rows, cols, metric):
        """Float64 distances (squared for L2) (p,) between block[rows] and X_train[cols], from
        float64 differences of the original values (exact for float32 data unless the sum
        needs more than 53 bits), in chunks that keep the differences within the budget."""
        out = np.empty(len(rows), dtype=np.float64)
        chunk = max(1, self.memory_budget // (32 * block.shape[1]))
        for start in range(0, len(rows), chunk):
            part = slice(start, start + chunk)
            diff = block[rows[part]].astype(np.float64)
            diff -= self.X_train[cols[part]]
            out[part] = _float64_distance(diff, metric)
        return out

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
        """X as float rows (float32, or float64 if given so), after checking its shape."""
        self._check_trained()
        X = _check_2d(X, "X")
        if X.shape[1] != self.X_train.shape[1]:
            raise ModelError(
                f"X has {X.shape[1]} features but the training data has {self.X_train.shape[1]}"
            )
        return _as_float(X)

    def _shifted(self, X):
        """X less the training shift, computed in float64 and rounded once to the training
        data's dtype."""
        if not self._shift.any():
            return X.astype(self.X_train.dtype, copy=False)
        out = np.empty(X.shape, dtype=self.X_train.dtype)
        return np.subtract(X, self._shift, out=out, casting="same_kind")

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
        """Bytes of scratch memory one test row costs (see memory_budget)."""
        n_train, D = self.X_train.shape
        per_row = 16 * D  # the row in float64 and its difference from one candidate
        if metric == "l1":
            return per_row + n_train * (D * (8 if exact else self.X_train.itemsize) + 16)
        return per_row + n_train * (8 * 3 + 1 if exact else self.X_train.itemsize + 8 * 2)

    def _blocks(self, n, row_bytes):
        size = max(1, self.memory_budget // max(1, row_bytes))
        for start in range(0, n, size):
            yield slice(start, min(n, start + size))


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


def _float64_distance(diff, metric):
    """Squared L2 or L1 norm (p,) of each row of float64 differences diff (p, D) (overwritten)."""
    if metric == "l2":
        return np.einsum("ij,ij->i", diff, diff)
    return np.abs(diff, out=diff).sum(axis=1)


def _l1_float64(block, train):
    """L1 distances (b, n) from float64 differences between block (b, D) and train (n, D)."""
    diff = block.astype(np.float64)[:, None, :] - train[None, :, :]
    np.abs(diff, out=diff)
    return diff.sum(axis=2)


def _smallest_unordered(values, m, group=128):
    """Column indices (b, m) of m smallest entries of each row of values (b, n), unordered.

    For m much smaller than n, in two steps: the minimum of each run of `group` columns (one
    vectorised pass), the m runs with the smallest minima (t the largest of those), then the m
    smallest among those runs' entries. That is exact: the chosen runs hold m entries <= t, and
    every entry elsewhere is >= t. A row-wise argpartition over all n columns cost a fifth of a
    CIFAR-10 prediction; this is 2-3 times faster.
    """
    b, n = values.shape
    if m >= n:
        return np.broadcast_to(np.arange(n), values.shape)
    if 4 * m * group > n:
        return np.argpartition(values, m - 1, axis=1)[:, :m]
    whole = n // group * group
    minima = values[:, :whole].reshape(b, -1, group).min(axis=2)
    if whole < n:
        minima = np.concatenate([minima, values[:, whole:].min(axis=1, keepdims=True)], axis=1)
    runs = np.argpartition(minima, m - 1, axis=1)[:, :m]
    cols = (runs[:, :, None] * group + np.arange(group)).reshape(b, m * group)
    past = cols >= n  # the last run may be short
    entries = np.take_along_axis(values, np.minimum(cols, n - 1), axis=1)
    entries[past] = np.inf
    pick = np.argpartition(entries, m - 1, axis=1)[:, :m]
    return np.take_along_axis(cols, pick, axis=1)


def _rank(cand, dists, k):
    """The k training indices among cand (b, c) with the smallest dists (b, c), nearest
    first, equal distances in index order."""
    by_index = np.argsort(cand, axis=1)
    cand = np.take_along_axis(cand, by_index, axis=1)
    dists = np.take_along_axis(dists, by_index, axis=1)
    return np.take_along_axis(cand, _k_smallest_sorted(dists, k), axis=1)


def _k_smallest_sorted(dists, k):
    """Column indices (n, k) of the k smallest entries of each row, ascending; equal distances
    in index order, also where they straddle the k-th place."""
    if k >= dists.shape[1]:
        part = np.broadcast_to(np.arange(dists.shape[1]), dists.shape)
    else:
        part = np.argpartition(dists, k - 1, axis=1)[:, :k]
        # argpartition takes any of the entries equal to the k-th smallest; where it left one
        # out, take those of smallest index instead.
        picked = np.take_along_axis(dists, part, axis=1)
        kth = picked.max(axis=1, keepdims=True)
        ties = dists == kth
        straddle = np.flatnonzero(ties.sum(axis=1) > (picked == kth).sum(axis=1))
        if straddle.size:
            sub, ties = dists[straddle], ties[straddle]
            below = sub < kth[straddle]
            room = k - below.sum(axis=1, keepdims=True)
            keep = below | (ties & (np.cumsum(ties, axis=1) <= room))
            part = part.copy()
            part[straddle] = np.nonzero(keep)[1].reshape(len(straddle), k)
    part = np.sort(part, axis=1)  # index order first, so the stable sort below breaks ties by index
    order = np.argsort(np.take_along_axis(dists, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _vote(labels):
    """Most common label in each row of labels (n, k); ties go to the smallest label."""
    n_classes = int(labels.max()) + 1 if labels.size else 1
    counts = (labels[:, :, None] == np.arange(n_classes)).sum(axis=1)
    return np.argmax(counts, axis=1)  # argmax returns the first (smallest) maximum
