"""Plots: what each function draws (read from the Figure it builds), and the PNGs it writes.

The references are computed here from the inputs: a brute-force moving average, tiles rescaled
one by one, confusion rates by hand, the misclassified examples picked out by a loop.
"""

import math
import struct

import numpy as np
import pytest
from matplotlib.collections import PathCollection

from nnctl import viz


@pytest.fixture
def figures(monkeypatch):
    """The Figures the plot functions build, kept instead of written (PNGs are tested once,
    at the end), in the order they were drawn."""
    drawn = []

    def keep(fig, path):
        drawn.append(fig)
        viz._pyplot().close(fig)  # the artists stay readable
        return path

    monkeypatch.setattr(viz, "_save", keep)
    return drawn


def image_of(ax):
    """The one image an axes shows, as a plain array (masked cells as NaN)."""
    [image] = ax.images
    return np.ma.filled(np.ma.asarray(image.get_array(), dtype=np.float64), np.nan)


def rescaled(image, top=1.0):
    """image stretched to [0, top] on its own range (what every tile shows); 0 if flat."""
    low, high = image.min(), image.max()
    return top * (image - low) / (high - low) if high > low else np.zeros_like(image)


def tick_labels(ax, axis="x"):
    return [t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")()]


# ---------------------------------------------------------------------------------------------
# Curves


def moving_average(values, window):
    """Brute force: the mean of the last `window` values up to each point."""
    return [np.mean(values[max(0, i - window + 1) : i + 1]) for i in range(len(values))]


def test_smooth():
    np.testing.assert_allclose(viz.smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    values = np.random.default_rng(0).random(37)
    for window in (1, 3, 10, 50):
        np.testing.assert_allclose(viz.smooth(values, window), moving_average(values, window))


def test_plot_loss_draws_every_iteration_and_a_moving_average(figures, rng):
    loss = rng.random(500)
    viz.plot_loss(loss, "loss.png", title="Loss of run 7")
    [ax] = figures[0].axes
    assert ax.get_title() == "Loss of run 7"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("iteration", "loss")
    raw, mean = ax.get_lines()
    np.testing.assert_array_equal(raw.get_xdata(), np.arange(1, 501))
    np.testing.assert_array_equal(raw.get_ydata(), loss)
    np.testing.assert_array_equal(mean.get_xdata(), np.arange(1, 501))
    np.testing.assert_allclose(mean.get_ydata(), moving_average(loss, 10))  # 500 // 50 points
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["per iteration", "mean of 10"]


def test_plot_accuracy_draws_train_and_validation_per_epoch(figures):
    viz.plot_accuracy([0.1, 0.5, 0.6], [0.2, 0.4, 0.45], "acc.png")
    viz.plot_accuracy([0.3, 0.7], [None, None], "acc.png")  # a run without validation data
    with_val, without_val = (fig.axes[0] for fig in figures)
    train, val = with_val.get_lines()
    assert (train.get_label(), val.get_label()) == ("train", "validation")
    np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(train.get_ydata(), [0.1, 0.5, 0.6])
    np.testing.assert_array_equal(val.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(val.get_ydata(), [0.2, 0.4, 0.45])
    [train] = without_val.get_lines()  # no empty validation line
    np.testing.assert_array_equal(train.get_ydata(), [0.3, 0.7])


def test_plot_knn_cv_draws_every_fold_and_the_mean_with_its_spread(figures):
    viz.plot_knn_cv({5: [0.3, 0.35, 0.4], 1: [0.2, 0.3]}, "cv.png")  # ks in any order
    [ax] = figures[0].axes
    folds = [c.get_offsets().tolist() for c in ax.collections if isinstance(c, PathCollection)]
    assert folds == [[[1, 0.2], [1, 0.3]], [[5, 0.3], [5, 0.35], [5, 0.4]]]  # k by k
    mean_line, _, (bars,) = ax.containers[0]
    np.testing.assert_array_equal(mean_line.get_xdata(), [1, 5])
    np.testing.assert_allclose(np.asarray(mean_line.get_ydata(), dtype=float), [0.25, 0.35])
    std5 = math.sqrt((0.05**2 + 0 + 0.05**2) / 3)
    expected = [[[1, 0.25 - 0.05], [1, 0.25 + 0.05]], [[5, 0.35 - std5], [5, 0.35 + std5]]]
    np.testing.assert_allclose(np.array(bars.get_segments()), expected)


def test_plot_top_curves_draws_validation_solid_and_training_dashed(figures):
    curves = [("lr=0.1", [0.5, 0.6], [0.4, 0.5]), ("lr=0.01", [0.3, 0.4], [0.2, 0.35])]
    viz.plot_top_curves(curves, "top.png")
    [ax] = figures[0].axes
    lines = ax.get_lines()
    assert len(lines) == 4
    for i, (label, train_acc, val_acc) in enumerate(curves):
        val, train = lines[2 * i], lines[2 * i + 1]
        assert val.get_label() == f"{label} (val)" and val.get_linestyle() == "-"
        assert train.get_linestyle() == "--"
        assert val.get_color() == train.get_color() == f"C{i}"
        np.testing.assert_array_equal(val.get_ydata(), val_acc)
        np.testing.assert_array_equal(train.get_ydata(), train_acc)
        np.testing.assert_array_equal(train.get_xdata(), [1, 2])


def integer_ticks_only(axis):
    ticks = [t for t in axis.get_majorticklocs() if np.isfinite(t)]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def test_accuracy_marks_the_best_epoch_on_the_curve_it_was_chosen_by(figures):
    viz.plot_accuracy([0.1, 0.5, 0.6, 0.7], [0.2, 0.45, 0.4, 0.42], "a.png", best_epoch=2)
    viz.plot_accuracy([0.3, 0.7, 0.6], [None, None, None], "a.png", best_epoch=2)
    with_val, without_val = (fig.axes[0] for fig in figures)
    rule = with_val.get_lines()[2]  # train, validation, the vertical rule, the star
    np.testing.assert_array_equal(rule.get_xdata(), [2, 2])
    star = with_val.get_lines()[3]
    assert star.get_marker() == "*" and star.get_label() == "best epoch 2 (saved model)"
    assert (list(star.get_xdata()), list(star.get_ydata())) == ([2], [0.45])  # on validation
    star = without_val.get_lines()[-1]
    assert (list(star.get_xdata()), list(star.get_ydata())) == ([2], [0.7])  # on training
    assert integer_ticks_only(with_val.xaxis)


def test_accuracy_over_few_epochs_has_whole_epoch_ticks(figures):
    viz.plot_accuracy([0.1, 0.5], [0.2, 0.4], "a.png")
    ax = figures[0].axes[0]
    assert integer_ticks_only(ax.xaxis) and len(ax.get_lines()) == 2  # no best marker


def test_loss_marks_the_end_of_the_best_epoch(figures, rng):
    viz.plot_loss(rng.random(40), "l.png", best_step=30)
    ax = figures[0].axes[0]
    rule = ax.get_lines()[2]
    np.testing.assert_array_equal(rule.get_xdata(), [30, 30])
    assert "iteration 30" in rule.get_label()


def test_knn_cv_uses_a_log_k_axis_only_when_k_spans_decades(figures):
    viz.plot_knn_cv({1: [0.2], 10: [0.3], 100: [0.25]}, "cv.png")
    viz.plot_knn_cv({1: [0.2], 3: [0.3], 5: [0.25]}, "cv.png")
    wide, narrow = (fig.axes[0] for fig in figures)
    assert wide.get_xscale() == "log" and wide.get_xlabel() == "k (log scale)"
    assert tick_labels(wide, "x") == ["1", "10", "100"]
    assert narrow.get_xscale() == "linear" and narrow.get_xlabel() == "k"
    assert tick_labels(narrow, "x") == ["1", "3", "5"]


def test_plot_compare_overlays_each_run_in_its_own_colour(figures):
    a = [{"epoch": 1, "train_acc": 0.5, "val_acc": 0.4, "loss": 2.0},
         {"epoch": 2, "train_acc": 0.6, "val_acc": None, "loss": 1.5}]  # fmt: skip
    b = [{"epoch": 1, "train_acc": 0.3, "val_acc": 0.2, "loss": 3.0}]
    viz.plot_compare([("A: one", a), ("B: two", b)], "c.png", title="A vs B")
    acc_ax, loss_ax = figures[0].axes
    assert figures[0].get_suptitle() == "A vs B"
    val_a, train_a, val_b, train_b = acc_ax.get_lines()
    assert val_a.get_label() == "A: one (val)" and val_a.get_color() == train_a.get_color()
    assert val_b.get_color() != val_a.get_color()
    np.testing.assert_array_equal(val_a.get_ydata(), [0.4, np.nan])
    np.testing.assert_array_equal(train_b.get_ydata(), [0.3])
    loss_a, loss_b = loss_ax.get_lines()
    np.testing.assert_array_equal(loss_a.get_ydata(), [2.0, 1.5])
    assert loss_b.get_label() == "B: two"


# ---------------------------------------------------------------------------------------------
# Weights and images


def test_visualize_grid_tiles_and_layout(rng):
    images = rng.standard_normal((5, 3, 4, 2))
    images[4] = 7.0  # a flat image has no range: it shows as 0
    grid = viz.visualize_grid(images, ubound=255.0, padding=1)
    # 5 tiles -> a 3 x 3 grid: 3 * 3 + 2 rows, 3 * 4 + 2 columns.
    assert grid.shape == (11, 14, 2)
    for i in range(5):
        y, x = divmod(i, 3)  # row by row
        tile = grid[y * 4 : y * 4 + 3, x * 5 : x * 5 + 4]
        np.testing.assert_allclose(tile, rescaled(images[i], 255.0), atol=1e-12)
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


def grid_tile(grid, i, tiles_per_row, H, W):
    y, x = divmod(i, tiles_per_row)
    return grid[y * (H + 1) : y * (H + 1) + H, x * (W + 1) : x * (W + 1) + W]


@pytest.mark.parametrize("channels_first", [False, True])
def test_hidden_weights_are_drawn_as_one_tile_per_unit(figures, rng, channels_first):
    images = rng.standard_normal((7, 4, 5, 3))  # unit i's input weights as an image
    layout = images.transpose(0, 3, 1, 2) if channels_first else images
    W = layout.reshape(7, -1).T  # (60, 7)
    viz.plot_weights(W, "w.png", image_shape=(4, 5, 3), channels_first=channels_first)
    [ax] = figures[0].axes
    assert ax.get_title() == "First-layer weights (7 of 7 units)"
    grid = image_of(ax)
    assert grid.shape == (3 * 4 + 2, 3 * 5 + 2, 3)  # 7 tiles in a 3 x 3 grid
    for i in range(7):
        expected = rescaled(images[i], 255.0).astype(np.uint8)  # shown as bytes
        np.testing.assert_array_equal(grid_tile(grid, i, 3, 4, 5), expected)


def test_weight_tiles_are_capped_and_grey_images_are_grey(figures, rng):
    images = rng.standard_normal((10, 3, 3, 1))
    W = images.reshape(10, -1).T
    viz.plot_weight_grid(W, (3, 3, 1), "w.png", max_tiles=4)
    [ax] = figures[0].axes
    assert ax.get_title() == "First-layer weights (4 of 10 units)"
    assert ax.images[0].get_cmap().name == "gray"
    grid = image_of(ax)
    assert grid.shape == (2 * 3 + 1, 2 * 3 + 1)  # the first 4 units, 2 x 2
    for i in range(4):
        expected = rescaled(images[i, :, :, 0], 255.0).astype(np.uint8)
        np.testing.assert_array_equal(grid_tile(grid, i, 2, 3, 3), expected)


def test_linear_weights_are_drawn_as_labelled_class_templates(figures, rng):
    images = rng.standard_normal((7, 4, 5, 3))
    W = images.reshape(7, -1).T
    viz.plot_weights(W, "t.png", image_shape=(4, 5, 3), class_names=list("abcdef"), linear=True)
    fig = figures[0]
    assert fig.get_suptitle() == "Class templates (linear classifier weights)"
    assert len(fig.axes) == 10  # 2 rows of 5; the last 3 stay empty
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == [*"abcdef", "6"]  # a class without a name: i
    for ax, image in zip(shown, images, strict=True):
        np.testing.assert_allclose(image_of(ax), rescaled(image), atol=1e-12)


def test_other_weights_are_drawn_as_a_symmetric_heat_map(figures, rng):
    W = rng.standard_normal((20, 7))
    W[3, 2] = -5.0  # the largest magnitude sets both ends of the scale
    viz.plot_weights(W, "m.png")  # no image shape
    viz.plot_weights(W, "m.png", image_shape=(2, 2, 3))  # 20 inputs are not 2 x 2 x 3 images
    viz.plot_weights(np.zeros((3, 2)), "m.png")
    for fig in figures[:2]:
        ax = fig.axes[0]
        assert len(fig.axes) == 2  # the map and its colour bar
        np.testing.assert_array_equal(image_of(ax), W)
        assert ax.images[0].get_clim() == (-5.0, 5.0)
        assert ax.images[0].get_cmap().name == "coolwarm"
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("unit of layer 1", "input feature")
    assert figures[2].axes[0].images[0].get_clim() == (-1.0, 1.0)  # all zero: still a scale


def test_weight_heat_maps_name_the_layer_the_run_and_the_classes(figures, rng):
    W = rng.standard_normal((7, 3))
    viz.plot_weights(W, "m.png", class_names=["cat", "dog", "emu"], layer=2, output=True,
                     name="run-a")  # fmt: skip
    viz.plot_weights(W, "m.png", class_names=["cat", "dog", "emu"], layer=2, name="run-a")
    output, hidden = (fig.axes[0] for fig in figures)
    assert output.get_title() == "Weights of output layer (run-a)"
    assert tick_labels(output, "x") == ["cat", "dog", "emu"]
    assert output.get_xlabel() == "class (output unit)"
    assert output.get_ylabel() == "unit of hidden layer 1"
    assert hidden.get_title() == "Weights of layer 2 (run-a)"
    assert hidden.get_xlabel() == "unit of layer 2" and "cat" not in tick_labels(hidden, "x")


def test_weight_pictures_carry_the_run_name(figures, rng):
    viz.plot_weights(rng.standard_normal((12, 4)), "w.png", image_shape=(2, 2, 3), name="r1")
    viz.plot_weights(rng.standard_normal((12, 2)), "w.png", image_shape=(2, 2, 3),
                     class_names=["a", "b"], linear=True, name="r1")  # fmt: skip
    assert figures[0].axes[0].get_title() == "First-layer weights (r1) (4 of 4 units)"
    assert figures[1].get_suptitle() == "Class templates (linear classifier weights) (r1)"


def test_plot_misclassified_shows_wrongly_predicted_images_by_predicted_class(figures, rng):
    images = rng.random((9, 6, 6, 3))
    y_true = np.array([0, 1, 2, 2, 0, 2, 1, 1, 0])
    y_pred = np.array([0, 0, 0, 0, 1, 2, 1, 2, 2])
    names = ["cat", "dog", "emu"]
    viz.plot_misclassified(images, y_true, y_pred, names, "mis.png", per_class=2)
    fig = figures[0]
    axes = np.array(fig.axes).reshape(3, 2)
    for c in range(3):
        wrong = [i for i in range(9) if y_pred[i] == c and y_true[i] != c][:2]  # by a loop
        assert axes[c, 0].texts[0].get_text() == names[c]  # the row's label
        for j in range(2):
            ax = axes[c, j]
            if j < len(wrong):
                np.testing.assert_allclose(image_of(ax), rescaled(images[wrong[j]]), atol=1e-12)
                assert ax.get_title() == f"{names[y_true[wrong[j]]]} → {names[c]}"
                assert ax.title.get_fontsize() >= 8
            else:
                assert not ax.images and ax.get_title() == ""
    # (row 0: images 1 and 2, not 3; row 1: image 4 only; row 2: images 7 and 8)


def test_plot_reconstructions_keeps_one_intensity_scale(figures):
    originals = np.array([[0.0, 1.0, 2.0, 4.0], [4.0, 4.0, 0.0, 0.0]])  # two 2x2 grey images
    reconstructions = originals / 2 + 1  # fainter and brighter than their originals
    viz.plot_reconstructions(originals, reconstructions, (2, 2, 1), "r.png")
    [ax] = figures[0].axes
    assert ax.images[0].get_clim() == (0.0, 1.0)  # not stretched again by imshow
    grid = image_of(ax)
    # Both scaled by the originals' range [0, 4]; original 0 top left, its reconstruction
    # below it after one background row.
    np.testing.assert_allclose(grid[0:2, 0:2], [[0, 0.25], [0.5, 1]])
    np.testing.assert_allclose(grid[3:5, 0:2], [[0.25, 0.375], [0.5, 0.75]])
    np.testing.assert_allclose(grid[0:2, 3:5], [[1, 1], [0, 0]])


# ---------------------------------------------------------------------------------------------
# Tables: confusion matrix and sweeps


def test_plot_confusion_shows_counts_and_row_rates_with_class_names(figures):
    confusion = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])  # nobody is truly class c
    viz.plot_confusion(confusion, ["a", "b", "c"], "c.png", title="Test")
    counts_ax, rates_ax = figures[0].axes[:2]  # then their two colour bars
    rates = [[5 / 6, 1 / 6, 0], [0.5, 0.5, 0], [0, 0, 0]]  # each row over its total
    np.testing.assert_array_equal(image_of(counts_ax), confusion)
    np.testing.assert_allclose(image_of(rates_ax), rates)
    assert counts_ax.get_title() == "Test (counts)"
    assert rates_ax.get_title() == "Test (row-normalised)"
    for ax in (counts_ax, rates_ax):
        assert tick_labels(ax, "x") == tick_labels(ax, "y") == ["a", "b", "c"]
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")

    def annotations(ax):
        return {
            (round(t.get_position()[1]), round(t.get_position()[0])): (t.get_text(), t.get_color())
            for t in ax.texts
        }

    counts = annotations(counts_ax)
    assert len(counts) == 9
    assert counts[(0, 0)] == ("5", "white")  # above half the largest count
    assert counts[(1, 0)] == ("2", "black") and counts[(0, 1)] == ("1", "black")
    rate_text = annotations(rates_ax)
    assert rate_text[(0, 0)] == ("0.83", "white") and rate_text[(1, 1)] == ("0.50", "white")
    assert rate_text[(0, 1)] == ("0.17", "black") and rate_text[(2, 2)] == ("0.00", "black")


def test_sweep_heatmap_puts_each_metric_in_its_cell(figures):
    params = [
        {"lr": 1e-1, "reg": 0.5},
        {"lr": 1e-3, "reg": 0.0},
        {"lr": 1e-2, "reg": 0.0},
        {"lr": 1e-1, "reg": 0.0},
        {"lr": 1e-3, "reg": 0.5},  # (lr 1e-2, reg 0.5) was not run
    ]
    metrics = [0.5, 0.1, 0.3, 0.2, 0.4]
    viz.plot_sweep_heatmap(("lr", "reg"), params, metrics, "h.png")
    ax = figures[0].axes[0]
    # Rows: reg 0.0, 0.5 (from the bottom); columns: lr 1e-3, 1e-2, 1e-1.
    expected = np.array([[0.1, 0.3, 0.2], [0.4, np.nan, 0.5]])
    np.testing.assert_array_equal(image_of(ax), expected)
    assert tick_labels(ax, "x") == ["0.001", "0.01", "0.1"]
    assert tick_labels(ax, "y") == ["0", "0.5"]
    assert ax.get_xlabel() == "lr (log scale)" and ax.get_ylabel() == "reg"
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    assert sorted(cells) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2)]  # no text where no run
    assert cells[(1, 2)].get_text() == "0.500" and cells[(0, 0)].get_text() == "0.100"
    # Readable on viridis: black above the middle of the range (0.3), white below.
    assert cells[(1, 2)].get_color() == "black" and cells[(0, 0)].get_color() == "white"


def test_sweep_scatter_has_a_panel_per_parameter(figures):
    params = [
        {"lr": 1e-3, "act": "tanh"},
        {"lr": 1e-1, "act": "relu"},
        {"lr": 1e-2, "act": "tanh"},
    ]
    viz.plot_sweep_scatter(["lr", "act"], params, [0.2, 0.5, 0.3], "s.png")
    lr_ax, act_ax = figures[0].axes
    [points] = lr_ax.collections
    np.testing.assert_allclose(points.get_offsets(), [[1e-3, 0.2], [1e-1, 0.5], [1e-2, 0.3]])
    assert lr_ax.get_xscale() == "log" and lr_ax.get_xlabel() == "lr"
    [points] = act_ax.collections  # names at positions 0, 1 in sorted order
    np.testing.assert_allclose(points.get_offsets(), [[1, 0.2], [0, 0.5], [1, 0.3]])
    assert tick_labels(act_ax, "x") == ["relu", "tanh"]
    assert act_ax.get_xscale() == "linear"


def test_sweep_heatmap_names_the_status_of_points_without_a_result(figures):
    params = [{"lr": 1e-3, "reg": 0.0}, {"lr": 1e-2, "reg": 0.0}, {"lr": 1e-3, "reg": 0.5}]
    viz.plot_sweep_heatmap(("lr", "reg"), params, [0.4, None, 0.2], "h.png",
                           statuses=[None, "diverged", None], title="sweep s")  # fmt: skip
    ax = figures[0].axes[0]
    assert ax.get_title() == "sweep s"
    assert np.isnan(image_of(ax)[0, 1])
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    assert cells[(0, 1)].get_text() == "diverged" and cells[(0, 1)].get_color() == "tab:red"
    assert cells[(0, 0)].get_text() == "0.400"
    assert (1, 1) not in cells  # never run: empty


def test_sweep_scatter_shows_points_without_a_result_as_red_crosses(figures):
    params = [{"lr": 1e-3}, {"lr": 1e-1}, {"lr": 1e-2}]
    viz.plot_sweep_scatter(["lr"], params, [0.2, None, 0.3], "s.png",
                           statuses=[None, "failed", None])  # fmt: skip
    [ax] = figures[0].axes
    scored, crosses = ax.collections
    np.testing.assert_allclose(scored.get_offsets(), [[1e-3, 0.2], [1e-2, 0.3]])
    assert crosses.get_offsets()[:, 0].tolist() == [1e-1]
    assert crosses.get_label() == "no result: failed"


# ---------------------------------------------------------------------------------------------
# The files


def png_size(path):
    """(width, height) from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


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
            (700, 530),
        ),
    ],
)
def test_each_plot_writes_a_png_of_the_expected_size(tmp_path, rng, plot, size):
    path = tmp_path / "sub" / "plot.png"  # missing folders are made
    assert plot(path, rng) == path
    assert png_size(path) == size
