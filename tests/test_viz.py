"""Plots: every function writes a PNG of the expected size; the weight grid's layout."""

import struct

import numpy as np
import pytest

from nnctl import viz


def png_size(path):
    """(width, height) from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_visualize_grid_tiles_and_layout():
    images = np.stack([np.full((3, 4, 2), i, dtype=float) for i in range(5)])
    images[:, 0, 0, 0] = -1.0  # give each tile a range, so it is rescaled to 0..255
    grid = viz.visualize_grid(images, ubound=255.0, padding=1)
    # 5 tiles -> a 3 x 3 grid: 3 * 3 + 2 rows, 3 * 4 + 2 columns.
    assert grid.shape == (11, 14, 2)
    for i in range(5):
        y, x = divmod(i, 3)
        tile = grid[y * 4 : y * 4 + 3, x * 5 : x * 5 + 4]
        assert tile.min() == 0 and tile.max() == 255
    assert np.all(grid[8:, 5:] == 0)  # tiles 6..9 are empty
    assert np.all(grid[3, :] == 0) and np.all(grid[:, 4] == 0)  # padding


def test_weights_as_images_both_layouts(rng):
    images = rng.standard_normal((6, 4, 5, 3))
    W = images.reshape(6, -1).T
    np.testing.assert_array_equal(viz.weights_as_images(W, (4, 5, 3)), images)
    W_cf = images.transpose(0, 3, 1, 2).reshape(6, -1).T
    np.testing.assert_array_equal(
        viz.weights_as_images(W_cf, (4, 5, 3), channels_first=True), images
    )


def test_smooth():
    np.testing.assert_allclose(viz.smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])


@pytest.mark.parametrize(
    "plot,size",
    [
        (lambda p, r: viz.plot_loss(r.random(500), p), (800, 500)),
        (lambda p, r: viz.plot_accuracy([0.1, 0.5, 0.6], [0.1, 0.4, 0.5], p), (800, 500)),
        (
            lambda p, r: viz.plot_weights(
                r.standard_normal((3072, 30)), p, image_shape=(32, 32, 3)
            ),
            (800, 800),
        ),
        (
            lambda p, r: viz.plot_weights(
                r.standard_normal((784, 10)),
                p,
                image_shape=(28, 28, 1),
                class_names=list("abcdefghij"),
                linear=True,
            ),
            (1100, 540),
        ),
        (lambda p, r: viz.plot_weights(r.standard_normal((20, 7)), p), (800, 600)),
        (
            lambda p, r: viz.plot_confusion(np.arange(9).reshape(3, 3), ["a", "b", "c"], p),
            (850, 475),
        ),
        (lambda p, r: viz.plot_knn_cv({1: [0.2, 0.3], 5: [0.3, 0.35]}, p), (800, 500)),
        (
            lambda p, r: viz.plot_misclassified(
                r.random((20, 8, 8, 3)),
                r.integers(3, size=20),
                r.integers(3, size=20),
                ["a", "b", "c"],
                p,
                per_class=4,
            ),
            (680, 420),
        ),
    ],
)
def test_each_plot_writes_a_png_of_the_expected_size(tmp_path, rng, plot, size):
    path = tmp_path / "plot.png"
    assert plot(path, rng) == path
    assert path.stat().st_size > 1000
    assert png_size(path) == size
