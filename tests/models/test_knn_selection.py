"""The two-step selection of the m smallest entries per row (run minima, then the chosen
runs' entries) against a full sort, and kNN rankings exact when it is used (many training
rows, many exact ties)."""

import numpy as np
import pytest

from nnctl.models import KNearestNeighbor
from nnctl.models.knn import _smallest_unordered
from tests.models.test_knn import exact_distances, exact_ranking, near_ties


@pytest.mark.parametrize("n", [1024, 3001, 6000])  # whole runs, a short last run
@pytest.mark.parametrize("m", [1, 2, 5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_m_smallest_entries_of_each_row_as_a_full_sort_finds_them(rng, n, m, dtype):
    values = rng.integers(0, 2 * n, size=(40, n)).astype(dtype)  # some equal values
    values[2:4] //= 1000  # many equal values
    values[0, -1] = -1  # the smallest entry in the short last run
    values[1, :] = 7  # a row of ties
    picked = _smallest_unordered(values, m)
    assert picked.shape == (40, m)
    assert all(len(set(row)) == m for row in picked)  # m different columns
    got = np.sort(np.take_along_axis(values, picked, axis=1), axis=1)
    np.testing.assert_array_equal(got, np.sort(values, axis=1)[:, :m])
    assert picked[0].tolist().count(n - 1) == 1


@pytest.mark.parametrize("k", [1, 4])
def test_rankings_stay_exact_with_thousands_of_training_rows(rng, k):
    X_train, y_train, X_test = near_ties(rng, far=-5000.0, n_near=1500, n_far=1500, D=4)
    units = exact_distances(X_test, X_train, "l2")
    knn = KNearestNeighbor()
    knn.train(X_train, y_train)
    np.testing.assert_array_equal(knn.neighbors(X_test, k, "l2"), exact_ranking(units, k))
