"""Every plot nnctl draws. Each function takes arrays and a path and writes one PNG.

matplotlib is imported inside the functions (Agg backend), so importing nnctl stays fast and
works without a display.
"""

import math

import numpy as np

from nnctl import atomic

DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    """Write fig to path as a PNG, atomically (a killed process leaves the old picture)."""
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Light PNG compression: encoding at the default level took most of the time of a plot.
    with atomic.atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    _pyplot().close(fig)
    return path


def _integer_ticks(axis):
    """Ticks only at whole numbers (epochs, k): no 2.5th epoch."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


BEST_STYLE = {"color": "tab:red", "linestyle": ":", "linewidth": 1.2}


def _fixed_margins(fig):
    """Margins for a plot with one axes. The per-run plots use these rather than a layout
    engine, which costs more than drawing the plot (runs of a sweep draw many)."""
    fig.subplots_adjust(left=0.1, right=0.96, bottom=0.11, top=0.92)


def smooth(values, window):
    """Moving average of values over `window` points (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0 or window <= 1:
        return values
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (cumsum[idx] - cumsum[lo]) / (idx - lo)


def plot_loss(loss_history, path, title="Training loss", best_step=None):
    """Per-iteration loss (faint) with a smoothed line on top; best_step (the last iteration
    of the best epoch, whose parameters were saved) marked by a vertical line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    steps = np.arange(1, len(loss_history) + 1)
    ax.plot(steps, loss_history, color="tab:blue", alpha=0.3, linewidth=0.8, label="per iteration")
    window = max(1, len(loss_history) // 50)
    ax.plot(
        steps,
        smooth(loss_history, window),
        color="tab:blue",
        linewidth=2,
        label=f"mean of {window}",
    )
    if best_step:
        ax.axvline(best_step, **BEST_STYLE, label=f"best epoch ends (iteration {best_step})")
    ax.set(title=title, xlabel="iteration", ylabel="loss")
    _integer_ticks(ax.xaxis)
    ax.grid(alpha=0.3)
    ax.legend()
    _fixed_margins(fig)
    return _save(fig, path)


def plot_accuracy(train_acc, val_acc, path, title="Accuracy", best_epoch=None):
    """Training and validation accuracy per epoch; best_epoch (1-based, the saved model's)
    marked by a vertical line and a star on the curve it was chosen by."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    epochs = np.arange(1, len(train_acc) + 1)
    ax.plot(epochs, train_acc, "o-", label="train")
    chosen_by = np.asarray(train_acc, dtype=float)
    if len(val_acc) and not np.all(np.isnan(np.asarray(val_acc, dtype=float))):
        ax.plot(epochs, val_acc, "s-", label="validation")
        chosen_by = np.asarray(val_acc, dtype=float)
    if best_epoch and 1 <= best_epoch <= len(train_acc):
        ax.axvline(best_epoch, **BEST_STYLE)
        ax.plot(
            [best_epoch], [chosen_by[best_epoch - 1]], "*", color="tab:red", markersize=14,
            label=f"best epoch {best_epoch} (saved model)",
        )  # fmt: skip
    ax.set(title=title, xlabel="epoch", ylabel="accuracy")
    _integer_ticks(ax.xaxis)
    ax.grid(alpha=0.3)
    ax.legend()
    _fixed_margins(fig)
    return _save(fig, path)


def visualize_grid(Xs, ubound=255.0, padding=1):
    """Tile images Xs (N, H, W, C) into one (G*H + (G-1)*pad, G*W + (G-1)*pad, C) grid with
    G = ceil(sqrt(N)); each image is rescaled to [0, ubound] on its own (the course's helper)."""
    N, H, W, C = Xs.shape
    grid_size = int(math.ceil(math.sqrt(N)))
    grid = np.zeros(
        (grid_size * H + padding * (grid_size - 1), grid_size * W + padding * (grid_size - 1), C)
    )
    for i in range(N):  # a loop over tiles (at most a few hundred), not over data
        y, x = divmod(i, grid_size)
        img = Xs[i]
        low, high = img.min(), img.max()
        scaled = ubound * (img - low) / (high - low) if high > low else np.zeros_like(img)
        y0, x0 = y * (H + padding), x * (W + padding)
        grid[y0 : y0 + H, x0 : x0 + W] = scaled
    return grid


def rows_as_images(rows, image_shape, channels_first=False):
    """Flat rows (N, D) as images (N, H, W, C); image_shape is (H, W, C)."""
    H, W, C = image_shape
    if channels_first:
        return rows.reshape(-1, C, H, W).transpose(0, 2, 3, 1)
    return rows.reshape(-1, H, W, C)


def weights_as_images(W, image_shape, channels_first=False):
    """First-layer weights W (D, M) as M images (M, H, W, C)."""
    return rows_as_images(W.T, image_shape, channels_first)


def _show(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray")
    else:
        ax.imshow(image)
    ax.axis("off")


def plot_weight_grid(
    W, image_shape, path, channels_first=False, max_tiles=400, title="First-layer weights"
):
    """Hidden units' input weights as image tiles in a grid (at most max_tiles of them); the
    title gets "(shown of total units)" appended."""
    plt = _pyplot()
    images = weights_as_images(W[:, :max_tiles], image_shape, channels_first)
    grid = visualize_grid(images).astype(np.uint8)
    fig, ax = plt.subplots(figsize=(8, 8))
    _show(ax, grid)
    ax.set_title(f"{title} ({images.shape[0]} of {W.shape[1]} units)")
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.94)
    return _save(fig, path)


def plot_class_templates(
    W,
    image_shape,
    class_names,
    path,
    channels_first=False,
    title="Class templates (linear classifier weights)",
):
    """A linear classifier's weights: one labelled template image per class."""
    plt = _pyplot()
    images = weights_as_images(W, image_shape, channels_first)
    cols = min(5, len(images))
    rows = math.ceil(len(images) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (img, ax) in enumerate(zip(images, axes.ravel(), strict=False)):
        low, high = img.min(), img.max()
        _show(ax, ((img - low) / (high - low) if high > low else np.zeros_like(img)))
        ax.set_title(class_names[i] if i < len(class_names) else str(i))
    fig.suptitle(title)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.88, hspace=0.3)
    return _save(fig, path)


def plot_weight_matrix(W, path, title="Weights", layer=1, class_names=None):
    """A heat map of the weight matrix W (D, M) of layer `layer` (1-based): its inputs down
    (the input features for layer 1, else the units of the layer before), its units across;
    an output layer (class_names given, one per column) has its columns named by class."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 6))
    limit = float(np.abs(W).max()) or 1.0
    im = ax.imshow(
        W, aspect="auto", cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest"
    )
    fig.colorbar(im, ax=ax, label="weight")
    inputs = "input feature" if layer == 1 else f"unit of hidden layer {layer - 1}"
    ax.set(title=title, ylabel=inputs)
    if class_names is not None and len(class_names) == W.shape[1]:
        ax.set_xlabel("class (output unit)")
        ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
        fig.subplots_adjust(left=0.1, right=0.96, bottom=0.2, top=0.92)
    else:
        ax.set_xlabel(f"unit of layer {layer}")
        _integer_ticks(ax.xaxis)
        _fixed_margins(fig)
    _integer_ticks(ax.yaxis)
    return _save(fig, path)


def plot_weights(
    W,
    path,
    image_shape=None,
    class_names=None,
    channels_first=False,
    linear=False,
    layer=1,
    output=False,
    name=None,
):
    """The right weight picture of layer `layer` (1-based): class templates (linear on
    images), tiles (hidden layer on images) or a heat map (anything else, its columns named
    by class when `output`, the last layer). name (the run's) goes in the title."""
    suffix = f" ({name})" if name else ""
    if image_shape is None or W.shape[0] != int(np.prod(image_shape)):
        kind = "output layer" if output else f"layer {layer}"
        return plot_weight_matrix(
            W,
            path,
            title=f"Weights of {kind}{suffix}",
            layer=layer,
            class_names=class_names if output else None,
        )
    if linear:
        return plot_class_templates(
            W, image_shape, class_names or [], path, channels_first,
            title=f"Class templates (linear classifier weights){suffix}",
        )  # fmt: skip
    return plot_weight_grid(
        W, image_shape, path, channels_first, title=f"First-layer weights{suffix}"
    )


def plot_confusion(confusion, class_names, path, title="Confusion matrix"):
    """Counts and row-normalised rates side by side, with class names on both axes."""
    plt = _pyplot()
    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1, keepdims=True)
    rates = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    n = len(class_names)
    fig, axes = plt.subplots(1, 2, figsize=(7 + 0.5 * n, 4 + 0.25 * n))
    for ax, values, label, fmt in (
        (axes[0], confusion, "counts", "d"),
        (axes[1], rates, "row-normalised", ".2f"),
    ):
        im = ax.imshow(values, cmap="Blues")
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set(title=f"{title} ({label})", xlabel="predicted", ylabel="true")
        ax.set_xticks(range(n), class_names, rotation=45, ha="right")
        ax.set_yticks(range(n), class_names)
        if n <= 20:
            threshold = values.max() / 2
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=7,
                            color="white" if values[i, j] > threshold else "black")  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def plot_knn_cv(cv_results, path, title="kNN cross-validation"):
    """Accuracy of every fold as points, and the mean with standard-deviation error bars, per
    k; k on a log axis when the ks span a factor of 10 or more, ticks at the ks tried."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    ks = sorted(cv_results)
    for k in ks:
        ax.scatter([k] * len(cv_results[k]), cv_results[k], color="tab:gray", s=12)
    means = [np.mean(cv_results[k]) for k in ks]
    stds = [np.std(cv_results[k]) for k in ks]
    ax.errorbar(ks, means, yerr=stds, color="tab:blue", marker="o", capsize=3, label="mean ± std")
    log_k = _log_spaced(ks)
    if log_k:
        ax.set_xscale("log")
        ax.minorticks_off()
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set(title=title, xlabel="k (log scale)" if log_k else "k")
    ax.set_ylabel("cross-validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


CAPTION_POINTS = 8  # the smallest text on a picture: readable when the PNG is shown at 100%


def plot_misclassified(
    images,
    y_true,
    y_pred,
    class_names,
    path,
    per_class=5,
    title="Misclassified test images (rows: the class predicted)",
):
    """For each predicted class (one row, named on the left), up to per_class test images
    wrongly given that class, each captioned "true → predicted"."""
    plt = _pyplot()
    n = len(class_names)
    # Room for the longest caption: about 0.067 in per character at 8 pt.
    width = max(1.4, 0.067 * (2 * max(len(str(c)) for c in class_names) + 3) + 0.15)
    fig, axes = plt.subplots(
        n, per_class, figsize=(width * per_class + 1.4, 1.6 * n + 0.5), squeeze=False
    )
    for c in range(n):
        wrong = np.flatnonzero((y_pred == c) & (y_true != c))[:per_class]
        for j in range(per_class):
            ax = axes[c, j]
            ax.axis("off")
            if j < len(wrong):
                img = images[wrong[j]]
                low, high = img.min(), img.max()
                _show(ax, (img - low) / (high - low) if high > low else np.zeros_like(img))
                caption = f"{class_names[y_true[wrong[j]]]} → {class_names[c]}"
                ax.set_title(caption, fontsize=CAPTION_POINTS)
        axes[c, 0].text(
            -0.1, 0.5, class_names[c], transform=axes[c, 0].transAxes, ha="right", va="center",
            fontsize=10,
        )  # fmt: skip
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the title
    return _save(fig, path)


def _log_spaced(values):
    """Positive numbers spanning at least a factor of 10: shown on a log axis."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(numbers) == len(values) and min(numbers) > 0 and max(numbers) / min(numbers) >= 10


def _label(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


NO_RESULT_COLOR = "tab:red"  # points whose trials diverged, failed or were stopped
NO_RESULT_FILL = "mistyrose"  # their cells in a heat map


def _no_result(statuses, count):
    """statuses as a list of count entries (None: the point has a result)."""
    return list(statuses) if statuses is not None else [None] * count


def plot_sweep_heatmap(
    keys, params, metrics, path, metric_label="val acc", statuses=None, title=None
):
    """The metric over a grid of two swept parameters, each cell annotated. Axes are the
    searched values in order (log-spaced values read as evenly spaced, i.e. a log axis).
    A point without a metric (None) shows its status instead (statuses[i], e.g. "diverged"),
    in red on a cell of its own colour (NO_RESULT_FILL, outside the metric's scale); a point
    never run is an empty cell without text."""
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    kx, ky = keys
    statuses = _no_result(statuses, len(params))
    xs = sorted({p[kx] for p in params})
    ys = sorted({p[ky] for p in params})
    grid = np.full((len(ys), len(xs)), np.nan)
    notes = {}
    for p, m, status in zip(params, metrics, statuses, strict=True):
        cell = (ys.index(p[ky]), xs.index(p[kx]))
        if m is None:
            notes[cell] = status or "no result"
        else:
            grid[cell] = m
    fig, ax = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.8 * len(ys) + 2.5))
    im = ax.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
    fig.colorbar(im, ax=ax, label=metric_label)
    ax.set_xticks(range(len(xs)), [_label(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
    log_x, log_y = _log_spaced(xs), _log_spaced(ys)
    ax.set_xlabel(kx + (" (log scale)" if log_x else ""))
    ax.set_ylabel(ky + (" (log scale)" if log_y else ""))
    finite = grid[np.isfinite(grid)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                color = "black" if grid[i, j] > middle else "white"
                ax.text(
                    j, i, f"{grid[i, j]:.3f}", ha="center", va="center", color=color, fontsize=9
                )
            elif (i, j) in notes:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, color=NO_RESULT_FILL))
                ax.text(j, i, notes[i, j], ha="center", va="center", color=NO_RESULT_COLOR,
                        fontsize=9, fontweight="bold")  # fmt: skip
    ax.set_title(title or f"{metric_label} over the grid")
    fig.subplots_adjust(left=0.18, right=0.98, bottom=0.16, top=0.9)
    return _save(fig, path)


def plot_sweep_scatter(
    keys, params, metrics, path, metric_label="val acc", statuses=None, title=None
):
    """One panel per swept parameter: the metric of every point against its value. Points
    without a metric (None) are red crosses along the bottom, labelled with their status."""
    from matplotlib.transforms import blended_transform_factory

    plt = _pyplot()
    statuses = _no_result(statuses, len(params))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 4), squeeze=False)
    scored = [i for i, m in enumerate(metrics) if m is not None]
    missing = [i for i, m in enumerate(metrics) if m is None]
    for ax, key in zip(axes[0], keys, strict=True):
        values = [p[key] for p in params]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            xs = values
            if values and _log_spaced(values):
                ax.set_xscale("log")
        else:
            labels = sorted({_label(v) for v in values})
            xs = [labels.index(_label(v)) for v in values]
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.scatter([xs[i] for i in scored], [metrics[i] for i in scored])
        if missing:
            bottom = blended_transform_factory(ax.transData, ax.transAxes)
            kinds = sorted({statuses[i] or "no result" for i in missing})
            ax.scatter(
                [xs[i] for i in missing], [0.04] * len(missing), marker="x", s=50,
                color=NO_RESULT_COLOR, transform=bottom, clip_on=False,
                label=f"no result: {', '.join(kinds)}",
            )  # fmt: skip
            ax.legend(fontsize=8, loc="upper right")
        ax.set(xlabel=key, ylabel=metric_label)
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"{metric_label} against each swept parameter")
    fig.tight_layout()
    return _save(fig, path)


def plot_top_curves(curves, path, title="Top trials"):
    """Train (dashed) and validation (solid) accuracy per epoch of the top trials;
    curves: list of (label, train_acc list, val_acc list[, val_std list]). With val_std (a
    point's repeats: the curves are their means) the validation curve has a band of +-1 std."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (label, train_acc, val_acc, *band) in enumerate(curves):
        color = f"C{i}"
        epochs = np.arange(1, len(train_acc) + 1)
        ax.plot(epochs, val_acc, "-", color=color, label=f"{label} (val)")
        ax.plot(epochs, train_acc, "--", color=color, alpha=0.6)
        if band and band[0] is not None:
            mean, std = np.asarray(val_acc, dtype=float), np.asarray(band[0], dtype=float)
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    ax.set(
        title=f"{title}: validation (solid) and training (dashed) accuracy",
        xlabel="epoch",
        ylabel="accuracy",
    )
    _integer_ticks(ax.xaxis)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _fixed_margins(fig)
    return _save(fig, path)


def plot_compare(runs, path, title="Runs compared"):
    """Several runs' curves overlaid, one colour per run: accuracy per epoch on the left
    (validation solid, training dashed), mean training loss per epoch on the right.
    runs: list of (label, history records with epoch, train_acc, val_acc, loss)."""
    plt = _pyplot()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(12, 5))
    for i, (label, records) in enumerate(runs):
        color = f"C{i % 10}"
        epochs = [r["epoch"] for r in records]

        def column(key, records=records):
            return [np.nan if r.get(key) is None else r[key] for r in records]

        acc_ax.plot(epochs, column("val_acc"), "-", color=color, label=f"{label} (val)")
        acc_ax.plot(epochs, column("train_acc"), "--", color=color, alpha=0.6)
        loss_ax.plot(epochs, column("loss"), "-", color=color, label=label)
    acc_ax.set(
        title="accuracy: validation (solid), training (dashed)", xlabel="epoch",
        ylabel="accuracy",
    )  # fmt: skip
    loss_ax.set(title="mean training loss per epoch", xlabel="epoch", ylabel="loss")
    for ax in (acc_ax, loss_ax):
        _integer_ticks(ax.xaxis)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def reconstruction_grid(originals, reconstructions, image_shape, channels_first=False, columns=10):
    """Originals above their reconstructions, tiled into one image.

    Returns (bands * (2H + 3) - 2, columns * (W + 1) - 1, C) float64 in [0, 1].

    Inputs: originals and reconstructions (N, D) flat rows (or (N, H, W, C) images), pair i in
    band i // columns, column i % columns; image_shape (H, W, C). Both are scaled by the
    originals' range to [0, 1] and clipped, so a reconstruction that is too faint or too
    bright looks it (visualize_grid's per-image scaling would hide that). The background
    between tiles is white: one pixel between tiles, three between bands.
    """
    if len(originals) != len(reconstructions):
        raise ValueError(f"{len(originals)} originals but {len(reconstructions)} reconstructions")
    H, W, C = image_shape
    top = rows_as_images(np.reshape(originals, (len(originals), -1)), image_shape, channels_first)
    bottom = rows_as_images(
        np.reshape(reconstructions, (len(reconstructions), -1)), image_shape, channels_first
    )
    low, high = float(top.min()), float(top.max())
    scale = 1.0 / (high - low) if high > low else 1.0
    columns = max(1, min(columns, len(top)))
    bands = math.ceil(len(top) / columns)
    band_height = 2 * H + 3  # original, 1 px, reconstruction, 2 px to the next band
    grid = np.ones((bands * band_height - 2, columns * (W + 1) - 1, C))
    for i in range(len(top)):  # a loop over tiles (a few dozen), not over data
        band, col = divmod(i, columns)
        y0, x0 = band * band_height, col * (W + 1)
        grid[y0 : y0 + H, x0 : x0 + W] = np.clip((top[i] - low) * scale, 0, 1)
        grid[y0 + H + 1 : y0 + 2 * H + 1, x0 : x0 + W] = np.clip((bottom[i] - low) * scale, 0, 1)
    return grid


def plot_reconstructions(
    originals,
    reconstructions,
    image_shape,
    path,
    channels_first=False,
    title="Originals (upper) and their reconstructions (lower)",
):
    """Images beside what an autoencoder made of them: each original above its reconstruction,
    on one shared intensity scale (reconstruction_grid). The code directions themselves (the
    rows of a tied autoencoder's W (m, n)) are plot_weight_grid(W.T, image_shape, path)."""
    plt = _pyplot()
    grid = reconstruction_grid(originals, reconstructions, image_shape, channels_first)
    fig, ax = plt.subplots(figsize=(8, max(2.0, 8 * grid.shape[0] / grid.shape[1])))
    if grid.shape[-1] == 1:
        ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(grid)
    ax.axis("off")
    ax.set_title(title)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.92)
    return _save(fig, path)


def plot_lr_find(lrs, losses, smoothed, path, suggested=None, title="Learning-rate range test"):
    """Loss against learning rate (log axis) of a range test: each step's loss (faint), its
    centred average, and the suggested rate as a vertical line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(lrs, losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="loss per step")
    ax.plot(lrs, smoothed, color="tab:blue", linewidth=2, label="centred average")
    if suggested:
        ax.axvline(suggested, **BEST_STYLE, label=f"suggested rate {suggested:.2g}")
    finite = np.asarray(smoothed, dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite):  # show the average from its lowest point up to its starting level
        low, high = float(finite.min()), max(float(finite[0]), float(finite.min()))
        margin = 0.1 * (high - low) + 1e-3 * max(1.0, abs(high))
        ax.set_ylim(low - margin, high + 3 * margin)
    ax.set_xscale("log")
    ax.set(title=title, xlabel="learning rate", ylabel="loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    _fixed_margins(fig)
    return _save(fig, path)
