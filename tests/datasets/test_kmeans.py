"""k-means features (Coates, Lee & Ng 2011): each step against a hand-worked toy case or a
straightforward per-patch reference, then the learned state through a run (fitted on the
training images only, saved in model.npz, applied again by eval without refitting)."""

import math

import numpy as np
import pytest

from nnctl.config import validate
from nnctl.datasets import features, kmeans, load_dataset, load_raw
from nnctl.errors import ConfigError, DatasetError, RunError
from nnctl.experiment import evaluate_run, run_experiment

# Six points on a line in two obvious groups, as rows (6, 1).
LINE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]], dtype=np.float32)


def test_one_lloyd_iteration_by_hand(rng):
    # From centres 0 and 1: 0 is nearest 0, everything else nearest 1.
    centres = kmeans.kmeans(LINE, 2, 1, rng, init=[[0.0], [1.0]])
    np.testing.assert_allclose(centres, [[0.0], [(1 + 2 + 10 + 11 + 12) / 5]])  # 0 and 7.2
    # The boundary moves to 3.6: the two groups, whose means are 1 and 11.
    centres = kmeans.kmeans(LINE, 2, 2, rng, init=[[0.0], [1.0]])
    np.testing.assert_allclose(centres, [[1.0], [11.0]])


def test_kmeans_finds_known_clusters(rng):
    # Three tight groups of points around (0, 0), (20, 0) and (0, 20); whatever three distinct
    # points k-means starts from, each group's centre is the mean of its points once every
    # group holds a starting point; with these points a seed that does so is checked below.
    offsets = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]], dtype=np.float32)
    groups = [offsets + centre for centre in ([0, 0], [20, 0], [0, 20])]
    X = np.concatenate(groups)
    for seed in range(5):
        centres = kmeans.kmeans(X, 3, 10, np.random.default_rng(seed))
        found = sorted(map(tuple, np.round(centres, 5)))
        if found == sorted(tuple(g.mean(axis=0)) for g in groups):
            break
    else:
        pytest.fail("k-means never found the three groups from five different starts")
    assert found == [(0.5, 0.5), (0.5, 20.5), (20.5, 0.5)]


def test_a_centre_without_points_restarts_at_a_point(rng):
    centres = kmeans.kmeans(LINE, 3, 1, rng, init=[[0.0], [100.0], [11.0]])
    assert centres[0, 0] == 1.0 and centres[2, 0] == 11.0  # {0, 1, 2} and {10, 11, 12}
    assert centres[1, 0] in LINE[:, 0]  # nobody was nearest 100


def test_assign_picks_the_nearest_centre():
    X = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0]], dtype=np.float32)
    centres = np.array([[0.0, 1.0], [3.0, 3.0], [9.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(kmeans.assign(X, centres), [0, 1, 2])


def test_patch_normalisation_by_hand():
    X = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    # mean 2.5, variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
    expected = np.array([-1.5, -0.5, 0.5, 1.5]) / math.sqrt(1.25 + 10)
    np.testing.assert_allclose(kmeans.normalize_patches(X.copy(), 10.0)[0], expected, rtol=1e-6)


def test_zca_whitening_makes_the_covariance_the_identity(rng):
    mixing = np.array([[2.0, 0.0, 0.0], [1.5, 0.5, 0.0], [-1.0, 3.0, 0.2]])
    X = rng.standard_normal((20000, 3)) @ mixing.T + [5.0, -2.0, 1.0]
    mean, W = kmeans.fit_whitening(X, 1e-8)
    white = (X - mean) @ W
    np.testing.assert_allclose(np.cov(white, rowvar=False, bias=True), np.eye(3), atol=1e-4)
    np.testing.assert_allclose(white.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(W, W.T, rtol=1e-5)  # ZCA: the symmetric whitening
    # A large epsilon damps the directions of small variance: the weakest one stays small.
    _, W_damped = kmeans.fit_whitening(X, 1.0)
    damped = np.cov((X - mean) @ W_damped, rowvar=False, bias=True)
    assert np.linalg.eigvalsh(damped).min() < 0.1


def test_triangle_and_hard_activations_by_hand():
    squared = np.array([[1.0, 4.0, 9.0], [0.0, 16.0, 4.0]], dtype=np.float32)
    # distances (1, 2, 3), mean 2 -> (1, 0, 0); distances (0, 4, 2), mean 2 -> (2, 0, 0)
    np.testing.assert_allclose(kmeans.triangle(squared.copy()), [[1, 0, 0], [2, 0, 0]])
    squared = np.array([[4.0, 1.0, 1.0], [9.0, 16.0, 0.25]], dtype=np.float32)
    # distances (2, 1, 1), mean 4/3 -> (0, 1/3, 1/3); (3, 4, 0.5), mean 2.5 -> (0, 0, 2)
    np.testing.assert_allclose(
        kmeans.triangle(squared.copy()), [[0, 1 / 3, 1 / 3], [0, 0, 2]], rtol=1e-6
    )
    np.testing.assert_array_equal(kmeans.hard(squared), [[0, 1, 0], [0, 0, 1]])


def test_pool_sums_by_hand():
    F = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3, 1)  # rows 1 2 3 / 4 5 6 / 7 8 9
    # 3 rows in 2 regions: rows 0-1 and row 2 (1.5 rounds up to 2); the same across.
    np.testing.assert_array_equal(kmeans.pool_sums(F, 2), [[1 + 2 + 4 + 5, 3 + 6, 7 + 8, 9]])
    assert kmeans.region_bounds(27, 2) == [0, 14, 27]  # the paper's quadrants of 27 patches
    two = np.stack([F[0], 10 * F[0]], axis=-1).reshape(1, 3, 3, 2)  # two centres interleaved
    np.testing.assert_array_equal(kmeans.pool_sums(two, 1), [[45, 450]])


def test_patches_are_views_at_the_stride():
    images = np.arange(2 * 5 * 6 * 2, dtype=np.float32).reshape(2, 5, 6, 2)
    grid = kmeans.patch_grid(images, 3, stride=2)
    assert grid.shape == (2, 2, 2, 2, 3, 3)
    for n in range(2):
        for i in range(2):
            for j in range(2):
                window = images[n, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]
                np.testing.assert_array_equal(grid[n, i, j], window.transpose(2, 0, 1))
    assert np.shares_memory(grid, images)


def test_squared_distances_against_brute_force(rng):
    X = rng.standard_normal((7, 5)).astype(np.float32)
    C = rng.standard_normal((4, 5)).astype(np.float32)
    brute = ((X[:, None, :].astype(np.float64) - C[None]) ** 2).sum(axis=2)
    np.testing.assert_allclose(kmeans.squared_distances(X, C), brute, rtol=1e-5, atol=1e-5)


def reference_encode(image, state, p, stride, norm_epsilon):
    """One image, one patch at a time, quadrants by hand (rounding half up)."""
    H, W, _ = image.shape
    rows, cols = (H - p) // stride + 1, (W - p) // stride + 1
    K = len(state["centroids"])
    acts = np.zeros((rows, cols, K))
    for i in range(rows):
        for j in range(cols):
            window = image[i * stride : i * stride + p, j * stride : j * stride + p, :]
            x = window.transpose(2, 0, 1).ravel().astype(np.float64)
            x = (x - x.mean()) / math.sqrt(x.var() + norm_epsilon)
            x = (x - state["mean"]) @ state["whitening"]
            z = np.array([np.linalg.norm(x - c) for c in state["centroids"]])
            acts[i, j] = np.maximum(0, z.mean() - z)
    half_r, half_c = int(rows / 2 + 0.5), int(cols / 2 + 0.5)
    quadrants = [
        acts[:half_r, :half_c],
        acts[:half_r, half_c:],
        acts[half_r:, :half_c],
        acts[half_r:, half_c:],
    ]
    return np.concatenate([q.sum(axis=(0, 1)) for q in quadrants])


@pytest.mark.parametrize("stride", [1, 2])
def test_encode_matches_a_per_patch_reference(rng, stride):
    images = rng.integers(0, 256, size=(3, 9, 8, 3)).astype(np.uint8)
    patches = kmeans.normalize_patches(kmeans.sample_patches(images, 200, 3, rng), 10.0)
    mean, W = kmeans.fit_whitening(patches, 0.1)
    state = {"centroids": rng.standard_normal((5, 27)).astype(np.float32), "mean": mean}
    state["whitening"] = W
    out = kmeans.encode(images, state, patch_size=3, stride=stride, centroids=5, patches=5)
    assert out.shape == (3, 4 * 5) and out.dtype == np.float32
    for n in range(3):
        expected = reference_encode(images[n], state, 3, stride, 10.0)
        np.testing.assert_allclose(out[n], expected, rtol=2e-4, atol=2e-4)


def test_fit_learns_whitening_and_centres_from_the_images(rng):
    images = rng.integers(0, 256, size=(20, 8, 8, 1)).astype(np.uint8)
    state = kmeans.fit(images, rng, patch_size=4, centroids=6, patches=500, iterations=3)
    assert state["centroids"].shape == (6, 16) and state["whitening"].shape == (16, 16)
    assert {v.dtype for v in state.values()} == {np.dtype(np.float32)}
    out = kmeans.encode(images, state, patch_size=4, centroids=6, patches=500)
    assert out.shape == (20, 4 * 6) and np.all(out >= 0) and out.sum() > 0


def test_options_are_checked():
    with pytest.raises(ConfigError, match="unknown kmeans option 'patchsize'; valid: patch_size"):
        kmeans.options(patchsize=6)
    with pytest.raises(ConfigError, match="centroids must be a positive integer"):
        kmeans.options(centroids=0)
    with pytest.raises(ConfigError, match="encoder must be one of triangle, hard"):
        kmeans.options(encoder="soft")
    with pytest.raises(ConfigError, match="at least as many patches"):
        kmeans.options(centroids=100, patches=50)
    with pytest.raises(ConfigError, match="data.features: unknown kmeans option 'size'"):
        validate({"data": {"dataset": "cifar10", "features": [{"kmeans": {"size": 6}}]}})
    with pytest.raises(DatasetError, match="smaller than one 6x6 patch"):
        kmeans.encode(np.zeros((1, 4, 4, 3)), {"centroids": np.zeros((2, 108))})


# -- the learned state through load_dataset and a run ----------------------------------------

SMALL = {"kmeans": {"patch_size": 5, "stride": 3, "centroids": 8, "patches": 2000}}


def mini(split, **extra):
    return {"dataset": "mnist-mini", "split": split, "features": [SMALL], **extra}


def test_the_state_is_learned_from_the_training_images_only(tmp_path):
    base = load_dataset(mini({"train": 300, "val": 50, "test": 40}), cache_dir=tmp_path)
    other_test = load_dataset(mini({"train": 300, "val": 50, "test": 80}), cache_dir=tmp_path)
    other_val = load_dataset(mini({"train": 300, "val": 20, "test": 40}), cache_dir=tmp_path)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 3  # three keys, three fits
    for other in (other_test, other_val):
        assert features.same_states(base.feature_state, other.feature_state)
    other_train = load_dataset(mini({"train": 200, "val": 50, "test": 40}), cache_dir=tmp_path)
    assert not features.same_states(base.feature_state, other_train.feature_state)
    # And the features are those of the learned state.
    raw = load_raw(mini({}), None)
    np.testing.assert_allclose(
        base.X_test,
        kmeans.encode(raw.X_test[:40], base.feature_state[0], **SMALL["kmeans"]),
        rtol=1e-6,
    )


def test_a_given_state_is_applied_instead_of_the_cached_fit(tmp_path, rng):
    config = mini({"train": 300, "val": 50, "test": 40})
    fitted = load_dataset(config, cache_dir=tmp_path)  # cached under this config's key
    other = {k: v.copy() for k, v in fitted.feature_state[0].items()}
    other["centroids"] = rng.standard_normal(other["centroids"].shape).astype(np.float32)
    given = load_dataset(config, cache_dir=tmp_path, feature_state=[other])
    raw = load_raw(config, None)
    np.testing.assert_allclose(
        given.X_test, kmeans.encode(raw.X_test[:40], other, **SMALL["kmeans"]), rtol=1e-6
    )
    assert not np.allclose(given.X_test, fitted.X_test)
    again = load_dataset(config, cache_dir=tmp_path, feature_state=[other])  # now cached too
    np.testing.assert_array_equal(again.X_test, given.X_test)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 2


def test_a_run_saves_the_state_and_eval_applies_it_without_refitting(tmp_path, monkeypatch):
    config = validate(
        {
            "name": "km",
            "data": {
                **mini({"train": 400, "val": 100, "test": 100}),
                "preprocess": ["standardize"],
            },
            "model": {"hidden_dims": [], "loss": "svm"},
            "train": {"optimizer": "adam", "learning_rate": 1e-2, "epochs": 3, "batch_size": 50},
        }
    )
    cache = tmp_path / "cache"
    result = run_experiment(config, tmp_path / "runs", cache_dir=cache, quiet=True)
    with np.load(result.run_dir / "model.npz") as f:
        saved = {k: f[k] for k in f.files if k.startswith("preprocess/features/")}
    assert set(saved) == {
        f"preprocess/features/0/kmeans/{key}" for key in ("centroids", "mean", "whitening")
    }
    with_cache = evaluate_run(result.run_dir, cache_dir=cache).accuracy

    def no_fitting(*args, **kwargs):
        raise AssertionError("eval must apply the saved state, not learn a new one")

    monkeypatch.setitem(features.FITS, "kmeans", no_fitting)
    without_cache = evaluate_run(result.run_dir, cache_dir=tmp_path / "empty").accuracy
    assert without_cache == with_cache > 0.5
    # A model.npz that lost the state cannot be used.
    monkeypatch.undo()
    with np.load(result.run_dir / "model.npz") as f:
        arrays = {k: f[k] for k in f.files if not k.startswith("preprocess/features/")}
    np.savez(result.run_dir / "model.npz", **arrays)
    with pytest.raises(RunError, match="lacks the learned state of feature kmeans"):
        evaluate_run(result.run_dir, cache_dir=cache)


def test_stored_splits_keep_the_learned_state(tmp_path):
    # Sweep workers read the data from stored splits; their trials save the model from it.
    from nnctl.datasets.stored import load_splits, save_splits

    splits = load_dataset(mini({"train": 100, "val": 20, "test": 20}), cache_dir=tmp_path)
    save_splits(splits, tmp_path / "stored")
    back = load_splits(tmp_path / "stored")
    assert back.features == splits.features == [SMALL]
    assert features.same_states(back.feature_state, splits.feature_state)
