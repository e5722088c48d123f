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


def test_memory_budget_bounds_the_block():
    knn = KNearestNeighbor(memory_budget=10 * 2**20)
    knn.train(np.zeros((1000, 8), dtype=np.float32), np.zeros(1000, dtype=int))
    sizes = {s.stop - s.start for s in knn._blocks(10_000, knn._row_bytes("l2", exact=False))}
    # A row of the block costs 1000 * (4 + 16) bytes: 10 MiB holds 524 rows.
    assert max(sizes) == 524


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
