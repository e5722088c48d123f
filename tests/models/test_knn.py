"""kNN against a two-loop brute-force reference."""

import numpy as np
import pytest

from nnctl.errors import ModelError
from nnctl.models import KNearestNeighbor, model_from_arrays, model_to_arrays
from nnctl.models.knn import best_k


def two_loop_distances(X_test, X_train, metric):
    """The course's two-loop version: one distance at a time, in float64."""
    dists = np.zeros((len(X_test), len(X_train)))
    for i, a in enumerate(X_test.astype(np.float64)):
        for j, b in enumerate(X_train.astype(np.float64)):
            diff = a - b
            dists[i, j] = np.sqrt(np.sum(diff**2)) if metric == "l2" else np.sum(np.abs(diff))
    return dists


def brute_predict(dists, y_train, k):
    """Sort every row fully; count votes with a dict; ties to the smallest label."""
    preds = []
    for row in dists:
        nearest = y_train[np.argsort(row, kind="stable")[:k]]
        counts = {}
        for label in nearest:
            counts[int(label)] = counts.get(int(label), 0) + 1
        preds.append(min(counts, key=lambda c: (-counts[c], c)))
    return np.array(preds)


@pytest.fixture
def toy(rng):
    """CIFAR-like rows: uint8-range pixels with a large common offset (hard for float32)."""
    X_train = rng.integers(0, 256, size=(120, 48)).astype(np.float32)
    y_train = rng.integers(4, size=120)
    X_test = rng.integers(0, 256, size=(37, 48)).astype(np.float32)
    return X_train, y_train, X_test


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_distances_equal_two_loop_reference(toy, metric):
    X_train, y_train, X_test = toy
    knn = KNearestNeighbor()
    knn.train(X_train, y_train)
    expected = two_loop_distances(X_test, X_train, metric)
    np.testing.assert_allclose(knn.compute_distances(X_test, metric=metric), expected, rtol=1e-10)


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_blocked_predict_equals_brute_force(toy, metric, k):
    X_train, y_train, X_test = toy
    reference = brute_predict(two_loop_distances(X_test, X_train, metric), y_train, k)
    whole = KNearestNeighbor(metric=metric)
    whole.train(X_train, y_train)
    tiny_budget = KNearestNeighbor(metric=metric, memory_budget=1)  # one test row per block
    tiny_budget.train(X_train, y_train)
    np.testing.assert_array_equal(whole.predict(X_test, k=k), reference)
    np.testing.assert_array_equal(tiny_budget.predict(X_test, k=k), reference)
    np.testing.assert_array_equal(
        whole.predict_labels(whole.compute_distances(X_test, metric), k), reference
    )


def test_neighbours_exact_despite_large_offset(rng):
    # Rows 1e4 away from the origin differ by ~1: float32's a.b loses those digits, the exact
    # re-ranking must recover the true order.
    X_train = (1e4 + rng.standard_normal((300, 30))).astype(np.float32)
    X_test = (1e4 + rng.standard_normal((50, 30))).astype(np.float32)
    knn = KNearestNeighbor()
    knn.train(X_train, np.zeros(300, dtype=int))
    expected = np.argsort(two_loop_distances(X_test, X_train, "l2"), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(knn.neighbors(X_test, 5), expected)


# Adversarial rows: float32 values 1000.5 + u * e with u = 2^-14 (the float32 spacing there)
# and small integers e, so that distances differ by a few u^2 and many tie exactly; optionally
# a second cluster far away, which pulls the column means to -2000 (near rows shifted by it
# need 2 more bits than float32 has) or to 2000.
U = 2.0**-14
BASE = 1000.5


def near_ties(rng, far, n_near=60, n_far=60, n_test=30, D=8):
    near = BASE + U * rng.integers(-3, 4, size=(n_near, D))
    far_rows = far + rng.integers(-3, 4, size=(n_far if far else 0, D))
    X_train = np.concatenate([near, far_rows, near[:5]])  # the last 5 repeat earlier rows
    X_train = X_train[rng.permutation(len(X_train))].astype(np.float32)
    X_test = (BASE + U * rng.integers(-3, 4, size=(n_test, D))).astype(np.float32)
    return X_train, rng.integers(4, size=len(X_train)), X_test


def exact_distances(X_test, X_train, metric, unit=U):
    """Integer reference: every value is BASE + unit * (an integer), so distances in units of
    `unit` (squared units for l2) are integers, computed without any rounding."""

    def units(X):
        e = (X.astype(np.float64) - BASE) / unit
        assert np.array_equal(e, np.round(e))
        return e.astype(np.int64)

    diff = units(X_test)[:, None, :] - units(X_train)[None, :, :]
    assert float(np.abs(diff).max()) ** 2 * diff.shape[2] < 2**62  # no int64 overflow
    return (diff * diff).sum(axis=2) if metric == "l2" else np.abs(diff).sum(axis=2)


def exact_ranking(units, k):
    """The k nearest of each row by (distance, index), from integer distances."""
    index = np.arange(units.shape[1])
    return np.array([np.lexsort((index, row))[:k] for row in units])


@pytest.mark.parametrize("far", [None, -5000.0, 3000.0])
@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("budget", [None, 1])
def test_exact_ranking_on_near_ties_with_large_means(rng, far, metric, k, budget):
    X_train, y_train, X_test = near_ties(rng, far)
    units = exact_distances(X_test, X_train, metric)
    knn = KNearestNeighbor(metric=metric, memory_budget=budget or 256 * 2**20)
    knn.train(X_train, y_train)
    expected = exact_ranking(units, k)
    np.testing.assert_array_equal(knn.neighbors(X_test, k, metric), expected)
    np.testing.assert_array_equal(knn.neighbors(X_test.astype(np.float64), k, metric), expected)
    labels = brute_predict(units, y_train, k)
    np.testing.assert_array_equal(knn.predict(X_test, k=k), labels)
    np.testing.assert_array_equal(
        knn.predict_labels(knn.compute_distances(X_test, metric), k), labels
    )


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_distances_exact_on_near_ties_with_large_means(rng, metric):
    X_train, y_train, X_test = near_ties(rng, far=-5000.0)
    units = exact_distances(X_test, X_train, metric).astype(np.float64)  # < 2^53: exact
    expected = U * (np.sqrt(units) if metric == "l2" else units)  # sqrt correctly rounded
    knn = KNearestNeighbor()
    knn.train(X_train, y_train)
    dists = knn.compute_distances(X_test, metric)
    assert dists.dtype == np.float64
    near = np.abs(X_train[:, 0] - BASE) < 1
    np.testing.assert_array_equal(dists[:, near], expected[:, near])
    np.testing.assert_allclose(dists, expected, rtol=1e-9)


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("k", [1, 4])
def test_exact_ranking_when_single_precision_differences_round(rng, metric, k):
    # Training rows near 1000.5 on the 2^-14 grid, queries near 0.5 on the 2^-20 grid: a
    # single-precision difference of the two keeps only multiples of 2^-14, too coarse to
    # rank them; the fast ranking's error bounds must send them to the exact stage.
    unit = 2.0**-20
    near = BASE + U * rng.integers(-3, 4, size=(80, 4))
    X_train = np.concatenate([near, near[:5]]).astype(np.float32)
    X_test = (0.5 + unit * rng.integers(-40, 41, size=(30, 4))).astype(np.float32)
    y_train = rng.integers(4, size=len(X_train))
    units = exact_distances(X_test, X_train, metric, unit)
    knn = KNearestNeighbor(metric=metric)
    knn.train(X_train, y_train)
    np.testing.assert_array_equal(knn.neighbors(X_test, k, metric), exact_ranking(units, k))
    np.testing.assert_array_equal(knn.predict(X_test, k=k), brute_predict(units, y_train, k))


def test_ties_straddling_the_kth_place_go_in_index_order():
    # From 0: row 6 at 0.5, then rows 2, 3, 4, 5, 7, 8 all at 1. The two nearest are rows 6
    # and 2 (labels 5 and 4, a tied vote that goes to 4), not 6 and another row at 1, which a
    # partial sort (np.argpartition) is free to pick.
    X_train = np.array([[3.0], [-2], [1], [-1], [1], [-1], [0.5], [1], [-1], [2]], np.float32)
    knn = KNearestNeighbor()
    knn.train(X_train, np.array([0, 2, 4, 1, 3, 2, 5, 3, 2, 0]))
    query = np.zeros((1, 1), dtype=np.float32)
    for metric in ("l2", "l1"):
        np.testing.assert_array_equal(knn.neighbors(query, 3, metric), [[6, 2, 3]])
        np.testing.assert_array_equal(knn.neighbors(query, 2, metric), [[6, 2]])
        assert knn.predict(query, k=2, metric=metric)[0] == 4
        assert knn.predict_labels(knn.compute_distances(query, metric), k=2)[0] == 4
    np.testing.assert_array_equal(knn.predict_labels(np.abs(X_train.T), k=2), [4])


def test_memory_budget_bounds_the_block():
    knn = KNearestNeighbor(memory_budget=10 * 2**20)
    knn.train(np.zeros((1000, 8), dtype=np.float32), np.zeros(1000, dtype=int))
    sizes = {s.stop - s.start for s in knn._blocks(10_000, knn._row_bytes("l2", exact=False))}
    # A row of the block costs 1000 * (4 + 16) bytes plus 8 * 16 for the row itself:
    # 10 MiB holds 520 rows.
    assert max(sizes) == 520


def test_ties_go_to_the_smallest_label():
    knn = KNearestNeighbor()
    knn.train(np.array([[0.0], [1.0], [-1.0], [2.0]]), np.array([3, 1, 2, 0]))
    # From 0.5: distances 0.5 (label 3), 0.5 (label 1), 1.5 (label 2), 1.5 (label 0).
    assert knn.predict(np.array([[0.5]]), k=2)[0] == 1
    assert knn.predict(np.array([[0.5]]), k=4)[0] == 0
    assert knn.predict_labels(np.array([[1.0, 1.0, 1.0, 1.0]]), k=4)[0] == 0


def test_cross_validation_matches_manual_folds(toy):
    X, y, _ = toy
    k_choices = [1, 3, 5]
    results = KNearestNeighbor().cross_validate(X, y, k_choices, num_folds=4)
    assert sorted(results) == k_choices
    folds_X, folds_y = np.array_split(X, 4), np.array_split(y, 4)
    for k in k_choices:
        assert len(results[k]) == 4
        for i in range(4):
            train_X = np.concatenate(folds_X[:i] + folds_X[i + 1 :])
            train_y = np.concatenate(folds_y[:i] + folds_y[i + 1 :])
            pred = brute_predict(two_loop_distances(folds_X[i], train_X, "l2"), train_y, k)
            assert results[k][i] == pytest.approx(np.mean(pred == folds_y[i]))


def test_best_k_prefers_mean_then_smallest():
    assert best_k({1: [0.2, 0.4], 3: [0.3, 0.3], 5: [0.1, 0.2]}) == 1
    assert best_k({1: [0.2], 3: [0.5], 5: [0.5]}) == 3


def test_round_trip_through_arrays(toy):
    X_train, y_train, X_test = toy
    knn = KNearestNeighbor(k=3, metric="l1")
    knn.train(X_train, y_train)
    rebuilt = model_from_arrays(knn.spec(), model_to_arrays(knn))
    np.testing.assert_array_equal(rebuilt.predict(X_test), knn.predict(X_test))


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda m: m.train(np.zeros(5), np.zeros(5, dtype=int)), "2-D"),
        (lambda m: m.train(np.zeros((5, 2)), np.zeros(4, dtype=int)), "one label per row"),
        (lambda m: m.train(np.zeros((5, 2)), np.full(5, 0.5)), "integer labels"),
        (lambda m: m.train(np.zeros((0, 2)), np.zeros(0, dtype=int)), "at least one"),
    ],
)
def test_bad_training_inputs(call, message):
    with pytest.raises(ModelError, match=message):
        call(KNearestNeighbor())


def test_bad_prediction_inputs(toy):
    X_train, y_train, X_test = toy
    knn = KNearestNeighbor()
    with pytest.raises(ModelError, match="not been trained"):
        knn.predict(X_test)
    knn.train(X_train, y_train)
    for k in (0, 121, 2.5, True):
        with pytest.raises(ModelError, match="k must be an integer from 1 to .* 120"):
            knn.predict(X_test, k=k)
    with pytest.raises(ModelError, match="features"):
        knn.predict(X_test[:, :5])
    with pytest.raises(ModelError, match="unknown kNN metric 'cosine'"):
        knn.predict(X_test, metric="cosine")
    with pytest.raises(ModelError, match="num_folds"):
        knn.cross_validate(X_train, y_train, [1], num_folds=1)
    assert issubclass(ModelError, ValueError)
